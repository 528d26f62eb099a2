"""The file-based pending-update computation (collectors/linux/apt_lists.py): Debian version ordering
against dpkg itself, every list compression apt writes (lz4 through the real liblz4), Release and pin
parsing, apt's candidate policy, and totality of every parser on arbitrary bytes."""

from __future__ import annotations

import bz2
import contextlib
import ctypes
import ctypes.util
import gzip
import itertools
import lzma
import re
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tenken.collectors.linux.apt_lists import (
    COMPRESSIONS,
    Archive,
    Installed,
    ListDecodeError,
    ListFile,
    classify_lists,
    compute_pending,
    debian_vercmp,
    decompress,
    decompressed_chunks,
    default_priority,
    is_security_release,
    lz4_available,
    native_arch,
    parse_preferences,
    parse_release,
    parse_status,
    scan_packages,
    scan_packages_stream,
    split_version,
)

# -- lz4 frames made with the real liblz4 (the library apt itself writes lists with) ---------------------------


def lz4_compress(data: bytes) -> bytes:
    lib = ctypes.CDLL(ctypes.util.find_library("lz4") or "liblz4.so.1")
    lib.LZ4F_compressFrameBound.argtypes = [ctypes.c_size_t, ctypes.c_void_p]
    lib.LZ4F_compressFrameBound.restype = ctypes.c_size_t
    lib.LZ4F_compressFrame.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p]
    lib.LZ4F_compressFrame.restype = ctypes.c_size_t
    bound = lib.LZ4F_compressFrameBound(len(data), None)
    dst = ctypes.create_string_buffer(bound)
    n = lib.LZ4F_compressFrame(dst, bound, data, len(data), None)
    assert 0 < n <= bound
    return dst.raw[:n]


def zstd_compress(data: bytes, level: int = 3) -> bytes:
    """libzstd's one-shot compressor (the same library the decoder calls; `zstd` the tool is not needed)."""
    lib = ctypes.CDLL(ctypes.util.find_library("zstd") or "libzstd.so.1")
    lib.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
    lib.ZSTD_compressBound.restype = ctypes.c_size_t
    lib.ZSTD_compress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    lib.ZSTD_compress.restype = ctypes.c_size_t
    bound = lib.ZSTD_compressBound(len(data))
    dst = ctypes.create_string_buffer(bound)
    n = lib.ZSTD_compress(dst, bound, data, len(data), level)
    assert 0 < n <= bound
    return dst.raw[:n]


def compress(ext: str, data: bytes) -> bytes:
    if ext == "":
        return data
    if ext == ".gz":
        return gzip.compress(data, compresslevel=1)
    if ext == ".xz":
        return lzma.compress(data, preset=0)
    if ext == ".lzma":
        return lzma.compress(data, format=lzma.FORMAT_ALONE, preset=0)
    if ext == ".bz2":
        return bz2.compress(data, compresslevel=1)
    if ext == ".lz4":
        return lz4_compress(data)
    if ext == ".zst":
        return zstd_compress(data)
    raise ValueError(ext)


# -- Debian version ordering ----------------------------------------------------------------------------------

ORDERED = [  # each strictly older than the next: the cases dpkg's manual and real archives present
    "0.9", "1.0~~", "1.0~~a", "1.0~", "1.0~rc1", "1.0~rc1+b1", "1.0", "1.0-1~bpo12+1", "1.0-1",
    "1.0-1+b1", "1.0-1+deb12u1", "1.0-1.1", "1.0a", "1.0+", "1.0+dfsg", "1.0.0", "1.00.1", "1.1", "1.10",
    "2:0.1", "2:0.1-1",
]


def test_debian_version_order_table() -> None:
    for older, newer in itertools.pairwise(ORDERED):
        assert debian_vercmp(older, newer) == -1, (older, newer)
        assert debian_vercmp(newer, older) == 1, (older, newer)
    if shutil.which("dpkg"):  # the table itself is checked against dpkg
        assert [_dpkg_cmp(a, b) for a, b in itertools.pairwise(ORDERED)] == [-1] * (len(ORDERED) - 1)
    assert debian_vercmp("1.0-0", "1.0") == 0  # an empty revision equals "0"
    assert debian_vercmp("0:1.2", "1.2") == 0  # epoch 0 is no epoch
    assert debian_vercmp("1.01", "1.1") == 0  # digit runs compare as numbers
    assert debian_vercmp("3.0.11-1~deb12u2", "3.0.11-1~deb12u3") == -1
    assert debian_vercmp("6.1.76-1", "6.6.13-1~bpo12+1") == -1
    assert split_version("2:1.0-rc-1") == (2, "1.0-rc", "1")  # the revision follows the LAST hyphen
    assert split_version("x:1.0") == (0, "x:1.0", "")  # not an epoch: kept whole, still comparable


def _dpkg_cmp(a: str, b: str) -> int:
    for op, res in (("lt", -1), ("gt", 1)):
        if subprocess.run(["dpkg", "--compare-versions", a, op, b], capture_output=True).returncode == 0:
            return res
    return 0


_vchars = "0123456789.+~abzAZ"
upstream = st.builds(lambda d, r: d + r, st.sampled_from("0123456789"), st.text(_vchars, max_size=8))
version = st.builds(
    lambda e, u, r: (f"{e}:" if e is not None else "") + u + (f"-{r}" if r else ""),
    st.none() | st.integers(0, 3), upstream, st.none() | st.text(_vchars, min_size=1, max_size=6),
)


_VALID = re.compile(r"(\d+:)?\d[A-Za-z0-9.+~]*(-[A-Za-z0-9.+~]+)?")


@st.composite
def version_pairs(draw: st.DrawFn) -> tuple[str, str]:
    a = draw(version)
    mode = draw(st.sampled_from(["independent", "tail", "replace", "insert"]))
    if mode == "independent":
        return a, draw(version)
    # a near neighbour, where ordering bugs live: ~ against the end, + and . against letters, leading zeros
    i = draw(st.integers(0, len(a)))
    piece = draw(st.text("0019.+~aZ", min_size=mode != "tail", max_size=3))
    if mode == "tail":
        b = a[:i] + piece
    elif mode == "replace":
        b = a[:i] + piece + a[i + 1:]
    else:
        b = a[:i] + piece + a[i:]
    return a, b if _VALID.fullmatch(b) else a + piece


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg")
@given(version_pairs())
@settings(max_examples=200, deadline=None)
def test_vercmp_agrees_with_dpkg(pair: tuple[str, str]) -> None:
    a, b = pair
    assert debian_vercmp(a, b) == _dpkg_cmp(a, b), pair


@given(st.text(max_size=30), st.text(max_size=30))
@settings(max_examples=300)
def test_vercmp_total_and_antisymmetric(a: str, b: str) -> None:
    assert debian_vercmp(a, a) == 0
    assert debian_vercmp(a, b) == -debian_vercmp(b, a) in (-1, 0, 1)


# -- decompression ----------------------------------------------------------------------------------------------

LIST = (b"Package: openssl\nVersion: 3.0.11-1~deb12u3\nArchitecture: amd64\nDescription: x\n y\n\n"
        b"Package: tzdata\nArchitecture: all\nVersion: 2025b-0+deb12u1\n\n") * 3


@pytest.mark.parametrize("ext", COMPRESSIONS)
def test_every_apt_compression_round_trips(ext: str) -> None:
    if ext == ".lz4" and not lz4_available():
        pytest.skip("liblz4 not installed")
    assert decompress(ext, compress(ext, LIST)) == LIST


def test_lz4_multi_chunk_and_concatenated_frames() -> None:
    big = LIST * 100_000  # ~12 MB: several 4 MiB output chunks
    frames = lz4_compress(big) + lz4_compress(LIST)
    pieces = list(decompressed_chunks(".lz4", frames))
    assert len(pieces) > 2 and b"".join(pieces) == big + LIST


@pytest.mark.parametrize("ext", [".gz", ".xz", ".bz2", ".lz4", ".lzma", ".zst"])
def test_damaged_and_truncated_lists_raise(ext: str) -> None:
    good = compress(ext, LIST * 50)
    with pytest.raises(ListDecodeError):
        decompress(ext, good[: len(good) // 2])
    with pytest.raises(ListDecodeError):
        decompress(ext, b"\x00garbage" + good)
    with pytest.raises(ListDecodeError):
        decompress(ext, good, max_out=100)  # a list expanding beyond the bound is refused


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    at = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(at)]


@given(st.sampled_from([".gz", ".xz", ".bz2", ".lz4", ".lzma", ".zst", ""]), st.lists(st.integers(0, 1 << 20), max_size=12), st.integers(1, 40))
@settings(max_examples=150, deadline=None)
def test_pieces_as_read_decode_like_the_whole_file(ext: str, cuts: list[int], copies: int) -> None:
    """The collector feeds a list in the pieces it is read in (Transport.read_chunks): wherever the file is
    cut, the text is the same as from the whole file, and a cut-short file still raises."""
    if ext == ".lz4" and not lz4_available():
        pytest.skip("liblz4 not installed")
    text = LIST * copies
    whole = compress(ext, text) if ext else text
    assert b"".join(decompressed_chunks(ext, _pieces(whole, cuts))) == text
    if ext:
        short = whole[: len(whole) - 1 - (cuts[0] % 8 if cuts else 0)]
        with pytest.raises(ListDecodeError):
            b"".join(decompressed_chunks(ext, _pieces(short, cuts)))


@pytest.mark.parametrize("ext", [".gz", ".lz4", ".zst"])
def test_pieces_of_a_big_list_with_several_members(ext: str) -> None:
    """Output larger than one CHUNK per input piece, and members/frames that end inside a piece."""
    if ext == ".lz4" and not lz4_available():
        pytest.skip("liblz4 not installed")
    big = LIST * 60_000  # ~7 MB of text: several 1 MiB output pieces from one input piece
    data = compress(ext, big) + compress(ext, LIST)
    pieces = list(decompressed_chunks(ext, _pieces(data, [len(data) // 3, len(data) - 5])))
    assert len(pieces) > 2 and b"".join(pieces) == big + LIST


def test_zstd_without_libzstd_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import tenken.collectors.linux.apt_lists as al

    monkeypatch.setattr(al, "zstd_available", lambda: False)
    assert not al.decoder_available(".zst")
    with pytest.raises(ListDecodeError, match="libzstd is not installed"):
        decompress(".zst", zstd_compress(LIST))


def test_zstd_frames_needing_a_huge_window_are_refused() -> None:
    """A hostile frame header asking for a 1 GiB window is refused, never allocated."""
    # frame header: magic, descriptor 0x00 (no content size, window descriptor follows), window 2**30
    frame = b"\x28\xb5\x2f\xfd" + b"\x00" + bytes([(30 - 10) << 3]) + b"\x01\x00\x00"  # + a last raw empty block
    with pytest.raises(ListDecodeError, match=r"memory|window"):
        decompress(".zst", frame)


@given(st.sampled_from(COMPRESSIONS), st.binary(max_size=300))
@settings(max_examples=400)
def test_decompress_total_on_arbitrary_bytes(ext: str, data: bytes) -> None:
    with contextlib.suppress(ListDecodeError):
        decompress(ext, data, max_out=1 << 20)


@given(st.sampled_from([".gz", ".xz", ".bz2", ".lz4", ".zst"]), st.binary(max_size=200), st.integers(0, 400), st.binary(max_size=8))
@settings(max_examples=300)
def test_decompress_total_on_mutated_streams(ext: str, data: bytes, at: int, junk: bytes) -> None:
    good = compress(ext, data)
    at = at % (len(good) + 1)
    with contextlib.suppress(ListDecodeError):
        decompress(ext, good[:at] + junk + good[at + len(junk):], max_out=1 << 20)


# -- file names, Release, status, Packages ------------------------------------------------------------------------

NAMES = [
    "deb.debian.org_debian_dists_bookworm_InRelease",
    "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4",
    "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.gz",  # same list twice: lz4 loses to gz
    "deb.debian.org_debian_dists_bookworm_main_i18n_Translation-en.lz4",
    "deb.debian.org_debian_dists_bookworm_main_source_Sources.xz",
    "deb.debian.org_debian_dists_bookworm-backports_Release",
    "deb.debian.org_debian_dists_bookworm-backports_Release.gpg",
    "deb.debian.org_debian_dists_bookworm-backports_contrib_binary-i386_Packages",
    "security.debian.org_debian-security_dists_buster_updates_InRelease",
    "security.debian.org_debian-security_dists_buster_updates_main_binary-amd64_Packages",
    "repo.example.jp_apt_._Packages.xz",  # a flat repository without a Release file
    "apt.example.jp:8080_debian_dists_bookworm_main_binary-amd64_Packages",
    "lock", "partial", "auxfiles",
]


def test_list_names_map_to_their_release_files() -> None:
    got = {lf.name: lf for lf in classify_lists(NAMES)}
    assert sorted(got) == [
        "apt.example.jp:8080_debian_dists_bookworm_main_binary-amd64_Packages",
        "deb.debian.org_debian_dists_bookworm-backports_contrib_binary-i386_Packages",
        "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.gz",
        "repo.example.jp_apt_._Packages.xz",
        "security.debian.org_debian-security_dists_buster_updates_main_binary-amd64_Packages",
    ]
    main = got["deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.gz"]
    assert (main.release, main.component, main.arch, main.site, main.compression) == (
        "deb.debian.org_debian_dists_bookworm_InRelease", "main", "amd64", "deb.debian.org", ".gz")
    bpo = got["deb.debian.org_debian_dists_bookworm-backports_contrib_binary-i386_Packages"]
    assert (bpo.release, bpo.component, bpo.arch) == ("deb.debian.org_debian_dists_bookworm-backports_Release", "contrib", "i386")
    # the suite `buster/updates` becomes `buster_updates` in file names: the longest prefix still finds it
    sec = got["security.debian.org_debian-security_dists_buster_updates_main_binary-amd64_Packages"]
    assert sec.release == "security.debian.org_debian-security_dists_buster_updates_InRelease" and sec.component == "main"
    assert got["repo.example.jp_apt_._Packages.xz"].release is None
    ported = got["apt.example.jp:8080_debian_dists_bookworm_main_binary-amd64_Packages"]
    assert ported.site == "apt.example.jp" and ported.release is None  # its Release is missing: no archive data


INRELEASE = """-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA512

Origin: Debian
Label: Debian-Security
Suite: stable-security
Version: 12
Codename: bookworm-security
Date: Tue, 25 Nov 2025 19:00:01 UTC
Valid-Until: Tue, 02 Dec 2025 19:00:01 UTC
Architectures: amd64 arm64 armel armhf i386 mips64el ppc64el s390x
Components: updates/main updates/contrib updates/non-free updates/non-free-firmware
Description: Debian 12 - Security Updates
SHA256:
 9f1c1c0bc1ba2ba2e6c4dcae6a2a1bd8a4bd4f2e1e2b4a0b9d0d0fbb0f5f4e2a 1234 main/binary-amd64/Packages
-----BEGIN PGP SIGNATURE-----

Origin: forged-after-signature
-----END PGP SIGNATURE-----
"""


def test_release_files() -> None:
    r = parse_release(INRELEASE)
    assert (r.origin, r.label, r.suite, r.codename, r.version) == ("Debian", "Debian-Security", "stable-security", "bookworm-security", "12")
    assert r.date == datetime(2025, 11, 25, 19, 0, 1, tzinfo=UTC) and is_security_release(r) and default_priority(r) == 500
    bpo = parse_release("Origin: Debian Backports\nLabel: Debian Backports\nSuite: stable-backports\nCodename: bookworm-backports\n"
                        "NotAutomatic: yes\nButAutomaticUpgrades: yes\n")
    assert not is_security_release(bpo) and default_priority(bpo) == 100
    assert default_priority(parse_release("Suite: experimental\nNotAutomatic: yes\n")) == 1
    ubuntu = parse_release("Origin: Ubuntu\nLabel: Ubuntu\nSuite: jammy-security\nCodename: jammy\n")
    esm = parse_release("Origin: UbuntuESM\nLabel: Ubuntu\nSuite: jammy-infra-security\nCodename: jammy\n")
    updates = parse_release("Origin: Ubuntu\nLabel: Ubuntu\nSuite: jammy-updates\nCodename: jammy\n")
    old = parse_release("Origin: Debian\nLabel: Debian-Security\nSuite: oldoldstable\nCodename: buster\n")
    assert is_security_release(ubuntu) and is_security_release(esm) and is_security_release(old)
    assert not is_security_release(updates)


STATUS = b"""Package: dpkg
Status: install ok installed
Architecture: amd64
Version: 1.21.22

Package: libbar1
Status: install ok installed
Architecture: i386
Multi-Arch: same
Version: 1.0-1

Package: held
Status: hold ok installed
Architecture: amd64
Version: 1.0

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 9.9

Package: halfway
Status: install ok half-configured
Version: 2.0
Architecture: all
"""


def test_dpkg_status() -> None:
    got = {(p.name, p.arch): p for p in parse_status(STATUS)}
    assert set(got) == {("dpkg", "amd64"), ("libbar1", "i386"), ("held", "amd64"), ("halfway", "all")}
    assert got[("held", "amd64")].held and not got[("dpkg", "amd64")].held
    assert native_arch(got.values()) == "amd64"


def test_scan_packages_only_wanted_and_any_field_order() -> None:
    data = b"Package: a\nVersion: 1\nArchitecture: amd64\n\nPackage: b\nArchitecture: all\nDescription: Package: c\n\nPackage: c\nVersion: 3\nArchitecture: all"
    assert scan_packages(data, {b"a", b"c"}) == [("a", "amd64", "1"), ("c", "all", "3")]
    assert scan_packages(data, {b"b"}) == []  # no Version: not an offer


@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=6))
@settings(max_examples=300)
def test_streamed_scan_equals_whole_scan_wherever_the_cuts_fall(noise: bytes, cuts: list[int]) -> None:
    data = LIST + noise + LIST.replace(b"openssl", b"libssl3")
    wanted = {b"openssl", b"tzdata", b"libssl3"}
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert scan_packages_stream(pieces, wanted) == scan_packages(data, wanted)


@given(st.binary(max_size=1500))
@settings(max_examples=300)
def test_file_parsers_total_on_arbitrary_bytes(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    parse_status(data)
    parse_release(text)
    parse_preferences(text)
    classify_lists(text.split())
    scan_packages(data, {b"a", b"Package:"})
    native_arch(parse_status(data))


@given(st.lists(st.sampled_from([
    "Package: ", "nginx", "*", "/ngi.*/", " src:openssl", "\n", "Pin: ", "release ", "a=bookworm", ", o=Debian",
    "origin ", '"deb.debian.org"', "version ", "1.22*", "Pin-Priority: ", "1001", "-1", "x", "\n\n", "# c\n",
]), max_size=30))
@settings(max_examples=300)
def test_preferences_parser_survives_near_misses(parts: list[str]) -> None:
    for pin in parse_preferences("".join(parts)):
        assert pin.packages and pin.kind in ("release", "origin", "version")


# -- apt's candidate policy ---------------------------------------------------------------------------------------


def archive(suite: str, *, label: str = "Debian", security: bool = False, na: bool = False, bau: bool = False,
            site: str = "deb.debian.org", component: str = "main") -> Archive:
    rel = parse_release(f"Origin: Debian\nLabel: {label}\nSuite: {suite}\nCodename: {suite}\nVersion: 12\n"
                        + ("NotAutomatic: yes\n" if na else "") + ("ButAutomaticUpgrades: yes\n" if bau else ""))
    lf = ListFile(name=f"{site}_{suite}_Packages", compression="", release="r", site=site, component=component, arch="amd64")
    return Archive(list=lf, release=rel, security=security, priority=default_priority(rel))


def pending(installed: list[Installed], offers: list[tuple[Archive, list[tuple[str, str, str]]]], prefs: str = "") -> dict[str, tuple[str, bool]]:
    comp = compute_pending(installed, offers, parse_preferences(prefs), "amd64")
    return {u.name: (u.candidate, u.security) for u in comp.upgrades}


MAIN, SEC = archive("bookworm"), archive("bookworm-security", label="Debian-Security", security=True)
BPO = archive("bookworm-backports", na=True, bau=True)
EXP = archive("experimental", na=True)


def test_policy_security_backports_arch_and_tilde() -> None:
    inst = [Installed("openssl", "amd64", "3.0.11-1~deb12u2"), Installed("linux-image-amd64", "amd64", "6.1.76-1"),
            Installed("linux-image-cloud-amd64", "amd64", "6.5.10-1~bpo12+1"), Installed("tzdata", "all", "2024a-0+deb12u1"),
            Installed("libbar1", "i386", "1.0-1"), Installed("rc", "amd64", "2.1.0~rc2-1"), Installed("old", "amd64", "1.0-1"),
            Installed("libssl3", "amd64", "3.0.11-1~deb12u2")]
    offers = [
        (MAIN, [("openssl", "amd64", "3.0.11-1~deb12u2"), ("linux-image-amd64", "amd64", "6.1.76-1"),
                ("linux-image-cloud-amd64", "amd64", "6.1.76-1"), ("tzdata", "all", "2025b-0+deb12u1"),
                ("libbar1", "amd64", "2.0-1"), ("rc", "amd64", "2.1.0-1"), ("old", "amd64", "1.0~beta1-1"),
                ("libssl3", "amd64", "3.0.11-1~deb12u3")]),
        (SEC, [("openssl", "amd64", "3.0.11-1~deb12u3"), ("libssl3", "amd64", "3.0.11-1~deb12u3")]),
        (BPO, [("linux-image-amd64", "amd64", "6.6.13-1~bpo12+1"), ("linux-image-cloud-amd64", "amd64", "6.6.13-1~bpo12+1")]),
        (EXP, [("tzdata", "all", "2099a-1")]),
    ]
    assert pending(inst, offers) == {
        "openssl": ("3.0.11-1~deb12u3", True),
        "libssl3": ("3.0.11-1~deb12u3", True),  # in main and security: security (apt-get shows both origins)
        "linux-image-cloud-amd64": ("6.6.13-1~bpo12+1", False),  # installed from backports: follows backports
        "tzdata": ("2025b-0+deb12u1", False),  # not experimental's (NotAutomatic, priority 1)
        "rc": ("2.1.0-1", False),  # 2.1.0~rc2 < 2.1.0
    }  # linux-image-amd64 stays on main; libbar1:i386 is not upgraded by an amd64 build; 1.0~beta1 is older
    i386 = Archive(list=ListFile("x_binary-i386_Packages", "", "r", "deb.debian.org", "main", "i386"),
                   release=MAIN.release, security=False, priority=500)
    offers.append((i386, [("libbar1", "i386", "2.0-1"), ("tzdata", "all", "2099b-1")]))
    got = pending(inst, offers)
    assert got["libbar1:i386"] == ("2.0-1", False)  # named as apt-get names a foreign-architecture package
    assert got["tzdata"] == ("2099b-1", False)  # `all` from the i386 list is the native package all the same


def test_policy_pins_and_holds() -> None:
    inst = [Installed("nginx", "amd64", "1.22.1-9"), Installed("curl", "amd64", "7.88.1-10"),
            Installed("held", "amd64", "1.0", held=True), Installed("nodejs", "amd64", "18.19.0+dfsg-6~deb12u1"),
            Installed("bash", "amd64", "5.2.15-2+b7")]
    node = archive("nodistro", site="deb.nodesource.com")
    offers = [(MAIN, [("nginx", "amd64", "1.22.1-9"), ("curl", "amd64", "7.88.1-10"), ("bash", "amd64", "5.2.15-2+b7"),
                      ("nodejs", "amd64", "18.19.0+dfsg-6~deb12u1")]),
              (SEC, [("nginx", "amd64", "1.22.1-9+deb12u1"), ("curl", "amd64", "7.88.1-10+deb12u8"), ("held", "amd64", "1.1")]),
              (node, [("nodejs", "amd64", "20.11.0-1nodesource1")]),
              (EXP, [("bash", "amd64", "5.2.15-2+b9")])]
    prefs = ("Package: nginx\nPin: version 1.22.1-9\nPin-Priority: 1001\n\n"
             "Package: nodejs\nPin: origin deb.nodesource.com\nPin-Priority: 600\n\n"
             "Package: *\nPin: release a=experimental\nPin-Priority: 500\n\n"
             "Package: curl\nPin: release l=Debian-Security\nPin-Priority: -1\n")
    comp = compute_pending(inst, offers, parse_preferences(prefs), "amd64")
    got = {u.name: u.candidate for u in comp.upgrades}
    assert got == {"nodejs": "20.11.0-1nodesource1", "bash": "5.2.15-2+b9"}  # nginx pinned, curl's security build refused
    assert [(u.name, u.candidate, u.security) for u in comp.held] == [("held", "1.1", True)]
    # without the pins: nginx and curl get their security updates, experimental stays out, nodejs follows nodesource (both 500: the newer wins)
    assert set(pending(inst, offers)) == {"nginx", "curl", "nodejs"}


def test_policy_downgrade_only_at_1000() -> None:
    inst = [Installed("pkg", "amd64", "2.0-1")]
    offers = [(MAIN, [("pkg", "amd64", "1.0-1")])]
    assert pending(inst, offers) == {}
    assert pending(inst, offers, "Package: pkg\nPin: release a=bookworm\nPin-Priority: 1001\n") == {"pkg": ("1.0-1", False)}
