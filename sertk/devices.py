"""Where models run: the one place that turns ``--device`` / ``--accelerator`` / ``--devices``
into something torch or Lightning can use, or into a one-line :class:`DeviceError` that names
the option and what this machine has.

- :func:`resolve_device` (inference, ``sertk predict --device``): ``None`` picks CUDA when
  available, else the CPU; ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` are checked against
  the installed torch and the visible hardware before anything is moved.
- :func:`check_training_devices` (``sertk train``/``cv``/``ablate``): Lightning's
  ``accelerator`` and ``devices`` checked the same way before a run directory is touched.
"""
from __future__ import annotations

import torch

SUPPORTED_TYPES = ("cpu", "cuda", "mps")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")


class DeviceError(ValueError):
    """A device option this machine cannot honour; ``str(err)`` is one line."""


def cuda_count() -> int:
    """Visible CUDA devices (0 on a CPU-only torch build)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """What this machine offers, e.g. ``["cpu", "cuda:0", "cuda:1"]``."""
    return (["cpu"] + [f"cuda:{i}" for i in range(cuda_count())]
            + (["mps"] if mps_available() else []))


def _no_cuda_reason() -> str:
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is built without CUDA"
    return "no CUDA device is visible"


def resolve_device(spec: str | torch.device | None, option: str = "--device") -> torch.device:
    """``spec`` as a usable :class:`torch.device`.

    Raises:
        DeviceError: not a device name, a type sertk does not run on, or hardware this
            machine does not have; the message names ``option`` and the available devices.
    """
    if spec is None:
        return torch.device("cuda" if cuda_count() else "cpu")
    available = ", ".join(available_devices())
    try:
        device = torch.device(spec.strip() if isinstance(spec, str) else spec)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"{option} {spec!r} is not a device name; available here: "
                          f"{available}") from None
    if device.type not in SUPPORTED_TYPES:
        raise DeviceError(f"{option} {spec!r}: sertk runs on {', '.join(SUPPORTED_TYPES)}; "
                          f"available here: {available}")
    if device.type == "cuda":
        count = cuda_count()
        if count == 0:
            raise DeviceError(f"{option} {spec!r}: {_no_cuda_reason()}; available here: "
                              f"{available}")
        if device.index is not None and device.index >= count:
            raise DeviceError(f"{option} {spec!r}: only {count} CUDA device(s); available "
                              f"here: {available}")
    if device.type == "mps" and not mps_available():
        raise DeviceError(f"{option} {spec!r}: Apple MPS is not available; available here: "
                          f"{available}")
    return device


def _requested(devices) -> int | list[int] | str:
    """Lightning's ``devices`` as ``"auto"`` (all; also -1), a count >= 1 or a list of indices."""
    usage = (f"--devices {devices!r} must be a count (1, 4), 'auto'/-1 (all) or device "
             f"indices like '0,1'")
    if isinstance(devices, bool):
        raise DeviceError(usage)
    if isinstance(devices, int):
        if devices == -1:
            return "auto"
        if devices < 1:
            raise DeviceError(usage)
        return devices
    if isinstance(devices, (list, tuple)):
        items = list(devices)
    else:
        text = str(devices).strip().lower()
        if text in ("auto", "-1"):
            return "auto"
        parts = [p.strip() for p in text.removesuffix(",").split(",")]  # "0," = index 0
        if not all(p.isdigit() for p in parts):
            raise DeviceError(usage)
        if "," not in text:
            return _requested(int(parts[0]))
        items = [int(p) for p in parts]
    if not items or len(set(items)) != len(items) or not all(
            isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in items):
        raise DeviceError(usage)
    return items


def check_training_devices(accelerator, devices) -> None:
    """Refuse a Lightning ``accelerator``/``devices`` pair this machine cannot run.

    ``accelerator="auto"`` means CUDA when available, else the CPU; a count of devices above 1
    with ``auto`` and no GPU is refused (most likely a GPU recipe on the wrong machine): ask for
    ``--accelerator cpu`` to run that many CPU processes.
    """
    available = ", ".join(available_devices())
    name = str(accelerator).strip().lower()
    if name not in ACCELERATORS:
        raise DeviceError(f"--accelerator {accelerator!r} is unknown; choose from "
                          f"{', '.join(ACCELERATORS)} (available here: {available})")
    requested = _requested(devices)
    gpus = cuda_count()
    kind = {"gpu": "cuda"}.get(name, name)
    if kind == "auto":
        if gpus:
            kind = "cuda"
        elif requested != "auto" and requested != 1:
            raise DeviceError(f"--devices {devices!r} asks for GPUs but {_no_cuda_reason()} "
                              f"(available here: {available}); add --accelerator cpu to run "
                              f"CPU processes")
        else:
            kind = "mps" if mps_available() else "cpu"
    if kind == "tpu":
        raise DeviceError(f"--accelerator {accelerator!r}: sertk does not run on TPUs; "
                          f"available here: {available}")
    if kind == "cuda":
        if not gpus:
            raise DeviceError(f"--accelerator {accelerator!r}: {_no_cuda_reason()}; available "
                              f"here: {available}")
        wanted = requested if isinstance(requested, list) else []
        if isinstance(requested, int) and requested > gpus or any(i >= gpus for i in wanted):
            raise DeviceError(f"--devices {devices!r}: only {gpus} CUDA device(s) here "
                              f"({available})")
    if kind == "mps":
        if not mps_available():
            raise DeviceError(f"--accelerator {accelerator!r}: Apple MPS is not available; "
                              f"available here: {available}")
        if requested not in ("auto", 1, [0]):
            raise DeviceError(f"--devices {devices!r}: MPS has one device")
    if kind == "cpu" and isinstance(requested, list):
        raise DeviceError(f"--devices {devices!r}: CPU processes are counted, not indexed; "
                          f"pass a count such as 2")
