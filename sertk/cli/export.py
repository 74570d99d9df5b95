"""Export a checkpoint to ONNX or TorchScript (raw 16 kHz waveform in, probabilities out).

The exported model includes the log-mel front-end (conv STFT) and normalisation:
input ``waveform`` (batch, samples) float32 at 16 kHz and, unless --no-lengths,
``lengths`` (batch,) int64 valid samples per row; output ``probabilities``
(batch, n_classes). A JSON sidecar (<file>.json) holds the labels, the feature config and
the input contract: every row needs at least min_samples valid samples (one analysis
window, 400 = 25 ms at 16 kHz) and min_samples <= lengths <= samples. The graph cannot
check this; sertk.export.runner does before every call.
ONNX models that need lengths inside the network (padding=batch) use the legacy
TorchScript-based exporter, the others torch.export (--exporter to choose).

The command checks the exported file against the PyTorch model (onnxruntime or
torch.jit.load) on --check-audio files (each whole and cut short), or on generated
audio of several lengths, each clip alone and all as one padded batch; it prints the
largest probability difference and fails (exit 1, nothing written) if it exceeds
--tolerance (1e-4).

--int8 (ONNX only) quantizes the LSTM, MatMul and Gemm nodes to int8 weights (faster on
CPU); its check against the float32 model uses --tolerance 0.05 by default and also prints
the share of check clips whose top label agrees. The sidecar records "int8": true.

Exit status: 0 on success, 1 if the export or the check failed, 2 for usage errors.

Examples:
  sertk export runs/emodb/fold-00/checkpoint --format onnx -o emodb.onnx
  sertk export emodb --format torchscript --check-audio a.wav b.wav
  sertk export emodb --int8 -o emodb-int8.onnx
"""
from __future__ import annotations

import argparse
import sys

from sertk.audio import AudioError
from sertk.export import (FORMATS, INT8_TOLERANCE, ONNX_EXPORTERS, TOLERANCE, ExportError,
                          ExportOptions, export_model)
from sertk.infer import ModelNotFoundError, resolve_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CKPT",
                        help="checkpoint directory or bundled model name")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="default: onnx")
    parser.add_argument("-o", "--output", default=None, metavar="FILE",
                        help="output file (default: <checkpoint name>.onnx / .pt here)")
    parser.add_argument("--check-audio", nargs="+", default=None, metavar="FILE",
                        help="audio files for the parity check (default: generated clips)")
    parser.add_argument("--no-lengths", action="store_true",
                        help="no lengths input: every row of a batch is one whole clip")
    parser.add_argument("--exporter", choices=ONNX_EXPORTERS, default="auto",
                        help="ONNX exporter: torch.export-based 'dynamo', TorchScript-based "
                             "'legacy', or 'auto' (default)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: exporter's)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help=f"largest allowed probability difference (default {TOLERANCE:g}, "
                             f"{INT8_TOLERANCE:g} with --int8)")
    parser.add_argument("--int8", action="store_true",
                        help="ONNX only: int8 weights for the LSTM and matrix products "
                             "(ONNX Runtime dynamic quantization)")


def run(args: argparse.Namespace) -> int:
    from sertk.models import CheckpointError, load_checkpoint

    try:
        if args.int8 and args.format != "onnx":
            raise ValueError(f"--int8 is for --format onnx (ONNX Runtime dynamic "
                             f"quantization), not {args.format}")
        checkpoint = load_checkpoint(resolve_model(args.checkpoint))
        options = ExportOptions(with_lengths=not args.no_lengths, exporter=args.exporter,
                                opset=args.opset, tolerance=args.tolerance,
                                check_audio=tuple(args.check_audio) if args.check_audio else None,
                                int8=args.int8)
    except (ModelNotFoundError, CheckpointError, ValueError) as err:
        print(f"sertk export: error: {err}", file=sys.stderr)
        return 2
    try:
        report = export_model(checkpoint, args.output, args.format, options)
    except AudioError as err:
        print(f"sertk export: error: check audio {err}", file=sys.stderr)
        return 2
    except ExportError as err:
        print(f"sertk export: FAILED: {err}", file=sys.stderr)
        return 1
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(report.summary())
    return 0
