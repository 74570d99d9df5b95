"""Small corpus archives, good and malicious, built in memory for the download tests.

Every builder returns the archive as bytes. A "corpus" is ``n`` tiny WAV files under
``wav/`` plus a text file, the layout of the canonical EmoDB archive.
"""
from __future__ import annotations

import io
import stat
import tarfile
import zipfile

WAV = b"RIFF" + bytes(40)  # contents do not matter to the archive code


def corpus_members(n: int = 3, top: str = "") -> dict[str, bytes]:
    """``{name: data}`` for ``n`` wav files in ``wav/`` and a readme, optionally in ``top/``."""
    members = {f"{top}wav/03a0{i}Fa.wav": WAV + bytes([i]) for i in range(n)}
    members[f"{top}erklaerung.txt"] = b"EmoDB test copy\n"
    return members


def zip_bytes(members: dict[str, bytes], *, symlinks: dict[str, str] | None = None,
              dirs: tuple[str, ...] = ("wav/",), mode: int | None = None) -> bytes:
    """A zip of ``members``; ``symlinks`` maps names to targets (stored as unix symlinks);
    ``mode`` sets the unix file type/permission bits of the regular members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in dirs:
            zf.writestr(name, b"")
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode is not None:
                info.create_system = 3
                info.external_attr = mode << 16
            zf.writestr(info, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes], *, compression: str = "gz",
              extra: list[tarfile.TarInfo] | None = None) -> bytes:
    """A tar(.gz/.bz2/.xz) of ``members`` plus ``extra`` header-only entries (links, devices)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{compression}" if compression else "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tf.addfile(info)
    return buf.getvalue()


def tar_entry(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    """A header-only tar entry: ``tarfile.SYMTYPE``, ``LNKTYPE``, ``CHRTYPE``, ``FIFOTYPE``..."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def zip_bomb(unpacked: int) -> bytes:
    """A zip holding ``unpacked`` zero bytes in one member (compresses about 1000:1)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("wav/zeros.wav", "w") as fh:
            block = bytes(1 << 20)
            for start in range(0, unpacked, len(block)):
                fh.write(block[: unpacked - start])
    return buf.getvalue()


def zip_with_lying_size(real_size: int, claimed_size: int) -> bytes:
    """A zip whose header claims ``claimed_size`` bytes for a member that inflates to more."""
    data = zip_bytes({"wav/big.wav": bytes(real_size)}, dirs=())
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("wav/big.wav")
    out = bytearray(data)
    # Patch the uncompressed size in the local header (offset 22) and central directory (24).
    out[info.header_offset + 22: info.header_offset + 26] = claimed_size.to_bytes(4, "little")
    central = out.rfind(b"PK\x01\x02")
    out[central + 24: central + 28] = claimed_size.to_bytes(4, "little")
    return bytes(out)
