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


def many_member_tar(path, n: int) -> None:
    """Write a .tar.gz of ``n`` empty files ``m0000000``, ``m0000001``, ... to ``path``.

    The 512-byte headers are stamped from one template (tarfile would take seconds for a
    few hundred thousand members).
    """
    import gzip

    template = bytearray(tarfile.TarInfo("m0000000").tobuf(format=tarfile.USTAR_FORMAT))
    template[148:156] = b" " * 8
    base = sum(template) - sum(b"m0000000")
    with gzip.open(path, "wb", compresslevel=1) as out:
        block = bytearray()
        for i in range(n):
            name = b"m%07d" % i
            template[0:8] = name
            template[148:156] = b"%06o\0 " % (base + sum(name))
            block += template
            if len(block) >= 1 << 20:
                out.write(block)
                block.clear()
        out.write(block + bytes(1024))  # the two zero blocks that end an archive


def many_member_zip(path, n: int, *, declared: int | None = None) -> None:
    """Write a zip of ``n`` (< 65535) empty stored files to ``path``; its end record
    declares ``declared`` entries (default: the truth)."""
    import struct

    local, central = bytearray(), bytearray()
    for i in range(n):
        name = b"m%07d" % i
        offset = len(local)
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, 0, 0, 0,
                             len(name), 0) + name
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, 0, 0, 0,
                               len(name), 0, 0, 0, 0, 0, offset) + name
    count = n if declared is None else declared
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), len(local), 0)
    with open(path, "wb") as out:
        out.write(local + central + end)


def chained_longname_tar(path, chain: int) -> None:
    """Write a tar whose one member is preceded by ``chain`` GNU long-name headers (tarfile
    follows each with a recursive call)."""
    data = bytearray()
    for _ in range(chain):
        info = tarfile.TarInfo("././@LongLink")
        info.type, info.size = tarfile.GNUTYPE_LONGNAME, 10
        data += info.tobuf(format=tarfile.USTAR_FORMAT) + b"x" * 10 + bytes(502)
    data += tarfile.TarInfo("a.wav").tobuf() + bytes(1024)
    with open(path, "wb") as out:
        out.write(data)
