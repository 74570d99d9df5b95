"""Corpora, manifests and evaluation splits.

One recipe per corpus turns a folder into a list of :class:`Utterance` records
(``prepare_iemocap``, ``prepare_emodb``, ``prepare_ravdess``, ``prepare_folder``,
``prepare_csv``; by name in :data:`PREPARERS`); manifests store them as CSV or JSON lines.
"""
from sertk.data.emodb import prepare_emodb
from sertk.data.folder import prepare_csv, prepare_folder
from sertk.data.iemocap import prepare_iemocap
from sertk.data.manifest import (ManifestError, Utterance, label_names, read_manifest,
                                 write_manifest)
from sertk.data.prepare import PREPARERS, count_table, prepare_corpus
from sertk.data.ravdess import prepare_ravdess
from sertk.data.validate import CorpusError, PreparedCorpus, Skipped, check_audio

__all__ = [
    "PREPARERS", "CorpusError", "ManifestError", "PreparedCorpus", "Skipped", "Utterance",
    "check_audio", "count_table", "label_names", "prepare_corpus", "prepare_csv",
    "prepare_emodb", "prepare_folder", "prepare_iemocap", "prepare_ravdess",
    "read_manifest", "write_manifest",
]
