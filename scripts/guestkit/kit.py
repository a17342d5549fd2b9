#!/usr/bin/env python3
"""Host-side helpers of scripts/guest-kit: the parts that are awkward in bash.

  kit.py vmlinux BZIMAGE OUT          unpack the ELF kernel inside a bzImage
  kit.py moddeps MODDIR NAME...       print module files NAME needs, dependencies first
  kit.py cpio ROOTDIR OUT [--node PATH:c|b:MAJOR:MINOR:MODE]...
                                      write a newc archive with normalised metadata

Everything here is deterministic: same inputs, byte-identical outputs.
"""
import bz2
import gzip
import lzma
import os
import stat
import sys
import zlib

# ---------------------------------------------------------------- vmlinux

# The bzImage setup code is followed by a compressed payload; which compressor the
# distribution chose is a build option, so look for each magic and keep the first
# candidate that decompresses into an ELF file.
PAYLOAD_MAGICS = [
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x1f\x8b\x08", "gzip"),
    (b"\x5d\x00\x00", "lzma"),
    (b"BZh", "bzip2"),
]


def _decompress(kind, data):
    if kind == "xz":
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
    if kind == "lzma":
        return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(data)
    if kind == "gzip":
        # wbits 16+: gzip header; decompressobj tolerates the trailing bytes.
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
    if kind == "bzip2":
        return bz2.BZ2Decompressor().decompress(data)
    if kind == "zstd":
        import subprocess
        run = subprocess.run(["zstd", "-dc"], input=data, capture_output=True)
        # zstd complains about the trailing bytes after the frame but still prints it.
        return run.stdout
    raise ValueError(kind)


def extract_vmlinux(bzimage, out):
    data = open(bzimage, "rb").read()
    for magic, kind in PAYLOAD_MAGICS:
        pos = data.find(magic)
        while pos >= 0:
            try:
                elf = _decompress(kind, data[pos:])
            except Exception:
                elf = b""
            if elf[:4] == b"\x7fELF":
                tmp = out + ".tmp"
                with open(tmp, "wb") as f:
                    f.write(elf)
                os.replace(tmp, out)
                print(f"{kind} payload at offset {pos}: {len(elf)} bytes", file=sys.stderr)
                return
            pos = data.find(magic, pos + 1)
    sys.exit(f"no ELF kernel found in {bzimage}")

# ---------------------------------------------------------------- modules


def _modinfo(path):
    """The NUL-separated key=value strings of an ELF module's .modinfo section."""
    data = open(path, "rb").read()
    if path.endswith(".xz"):
        data = lzma.decompress(data)
    elif path.endswith(".zst"):
        import subprocess
        data = subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout
    elif path.endswith(".gz"):
        data = gzip.decompress(data)
    if data[:4] != b"\x7fELF" or data[4] != 2:
        sys.exit(f"{path}: not a 64-bit ELF module")
    le = "little"
    shoff = int.from_bytes(data[0x28:0x30], le)
    shentsize = int.from_bytes(data[0x3A:0x3C], le)
    shnum = int.from_bytes(data[0x3C:0x3E], le)
    shstrndx = int.from_bytes(data[0x3E:0x40], le)

    def section(i):
        base = shoff + i * shentsize
        name = int.from_bytes(data[base:base + 4], le)
        off = int.from_bytes(data[base + 0x18:base + 0x20], le)
        size = int.from_bytes(data[base + 0x20:base + 0x28], le)
        return name, off, size

    _, stroff, _ = section(shstrndx)
    for i in range(shnum):
        name, off, size = section(i)
        end = data.index(b"\0", stroff + name)
        if data[stroff + name:end] == b".modinfo":
            info = {}
            for item in data[off:off + size].split(b"\0"):
                if b"=" in item:
                    k, v = item.decode("utf-8", "replace").split("=", 1)
                    info.setdefault(k, []).append(v)
            return info
    return {}


def _module_index(moddir):
    index = {}
    for root, _, files in os.walk(moddir):
        for f in files:
            for ext in (".ko", ".ko.xz", ".ko.zst", ".ko.gz"):
                if f.endswith(ext):
                    name = f[: -len(ext)].replace("-", "_")
                    index[name] = os.path.join(root, f)
    return index


def module_deps(moddir, names):
    """Modules in load order. Hard dependencies come from 'depends='; 'softdep=pre:'
    names are followed too, since ext4 finds crc32c through the crypto API and
    nothing would load it on demand in a guest without modprobe tables."""
    index = _module_index(moddir)
    order, seen = [], set()

    def visit(name, chain):
        name = name.replace("-", "_")
        if name in seen:
            return
        if name in chain:
            sys.exit(f"module dependency cycle: {' -> '.join(chain + [name])}")
        path = index.get(name)
        if path is None:
            # Built into the kernel (or absent): nothing to load.
            seen.add(name)
            return
        info = _modinfo(path)
        deps = [d for v in info.get("depends", []) for d in v.split(",") if d]
        for soft in info.get("softdep", []):
            words = soft.split()
            if words and words[0] == "pre:":
                deps += words[1:]
        for d in deps:
            visit(d, chain + [name])
        seen.add(name)
        order.append(path)

    for n in names:
        visit(n, [])
    for p in order:
        print(p)

# ---------------------------------------------------------------- cpio


def _cpio_entry(out, ino, name, mode, nlink, rdev, body):
    major, minor = rdev
    fields = [ino, mode, 0, 0, nlink, 0, len(body), 0, 0, major, minor, len(name) + 1, 0]
    header = b"070701" + b"".join(b"%08X" % v for v in fields)
    out.write(header + name.encode() + b"\0")
    out.write(b"\0" * (-(len(header) + len(name) + 1) % 4))
    out.write(body)
    out.write(b"\0" * (-len(body) % 4))


def write_cpio(rootdir, out_path, nodes):
    entries = []
    for root, dirs, files in os.walk(rootdir):
        dirs.sort()
        for n in sorted(dirs + files):
            full = os.path.join(root, n)
            entries.append(os.path.relpath(full, rootdir))
    entries.sort()
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as out:
        ino = 1
        for rel in entries:
            st = os.lstat(os.path.join(rootdir, rel))
            perm = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                _cpio_entry(out, ino, rel, stat.S_IFDIR | perm, 2, (0, 0), b"")
            elif stat.S_ISLNK(st.st_mode):
                target = os.readlink(os.path.join(rootdir, rel)).encode()
                _cpio_entry(out, ino, rel, stat.S_IFLNK | 0o777, 1, (0, 0), target)
            elif stat.S_ISREG(st.st_mode):
                body = open(os.path.join(rootdir, rel), "rb").read()
                _cpio_entry(out, ino, rel, stat.S_IFREG | perm, 1, (0, 0), body)
            else:
                sys.exit(f"{rel}: unsupported file type")
            ino += 1
        for spec in sorted(nodes):
            path, kind, major, minor, mode = spec.split(":")
            fmt = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
            _cpio_entry(out, ino, path, fmt | int(mode, 8), 1, (int(major), int(minor)), b"")
            ino += 1
        _cpio_entry(out, 0, "TRAILER!!!", 0, 1, (0, 0), b"")
    os.replace(tmp, out_path)


def main(argv):
    if len(argv) >= 3 and argv[0] == "vmlinux":
        extract_vmlinux(argv[1], argv[2])
    elif len(argv) >= 3 and argv[0] == "moddeps":
        module_deps(argv[1], argv[2:])
    elif len(argv) >= 3 and argv[0] == "cpio":
        nodes = []
        rest = argv[3:]
        while rest:
            if rest[0] != "--node" or len(rest) < 2:
                sys.exit(f"unexpected argument {rest[0]}")
            nodes.append(rest[1])
            rest = rest[2:]
        write_cpio(argv[1], argv[2], nodes)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
