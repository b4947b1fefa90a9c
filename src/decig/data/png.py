"""A small PNG writer whose output bytes depend only on the pixels.

Why not ``Image.save``: on Linux, Pillow's wheels do not bundle zlib but load the system's
``libz.so.1`` (manylinux allows it), and its macOS/Windows wheels bundle zlib-ng. Deflate output
is not specified, only its decoding, so the same pixels become different PNG bytes on Debian
(zlib 1.2.13), Fedora (zlib-ng) or macOS, and a DVC hash of generated data would not reproduce.

This writer fixes every choice itself: Paeth filter on every row, a single dynamic-Huffman deflate
block whose only matches are byte runs (distance 1), and code lengths from a deterministic
length-limited Huffman construction. Checksums (CRC-32, Adler-32) are fully specified functions,
so taking them from the zlib module is safe. Output decodes with any PNG reader.
"""

from __future__ import annotations

import heapq
import struct
import zlib

import numpy as np

# RFC 1951 3.2.5: length symbols 257..285 -> (base length, extra bits).
_LEN_EXTRA = [0] * 8 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [0]
_LEN_BASE = [3]
for _extra in _LEN_EXTRA[:-2]:
    _LEN_BASE.append(_LEN_BASE[-1] + (1 << _extra))
_LEN_BASE.append(258)
# For match length L (3..258): symbol index 0..28, i.e. the last base <= L (258 has its own symbol).
_LEN_SYMBOL = np.searchsorted(np.array(_LEN_BASE[:-1]), np.arange(259), side="right") - 1
_LEN_SYMBOL[258] = 28
_CL_ORDER = (16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15)
_MIN_RUN = 4  # a run shorter than this is cheaper as literals than as literal + match
_MAX_MATCH = 258


def _paeth_filter(pixels: np.ndarray) -> np.ndarray:
    """Filtered scanlines (filter byte 4 + Paeth residuals) as one flat uint8 array."""
    h, w, c = pixels.shape
    raw = pixels.reshape(h, w * c).astype(np.int16)
    left = np.zeros_like(raw)
    left[:, c:] = raw[:, :-c]
    up = np.zeros_like(raw)
    up[1:] = raw[:-1]
    up_left = np.zeros_like(raw)
    up_left[1:, c:] = raw[:-1, :-c]
    p = left + up - up_left
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - up_left)
    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
    residual = ((raw - pred) % 256).astype(np.uint8)
    return np.concatenate([np.full((h, 1), 4, dtype=np.uint8), residual], axis=1).ravel()


def _code_lengths(freqs: np.ndarray, limit: int) -> np.ndarray:
    """Huffman code lengths <= ``limit``; ties broken by symbol so the result is deterministic.

    When the tree is too deep, frequencies are halved (keeping used symbols >= 1) and the tree
    rebuilt: slightly suboptimal, simple, and always terminates in a balanced tree, which fits
    when at most ``2**limit`` symbols are used (deflate's alphabets always are).
    """
    freqs = freqs.astype(np.int64)
    if np.count_nonzero(freqs) > 1 << limit:
        raise ValueError(f"{np.count_nonzero(freqs)} symbols cannot have codes of at most {limit} bits")
    # A one-symbol code would be incomplete, which inflaters reject for code-length codes.
    for spare in np.flatnonzero(freqs == 0)[: max(0, 2 - np.count_nonzero(freqs))]:
        freqs[spare] = 1
    while True:
        lengths = np.zeros(len(freqs), dtype=np.int64)
        lengths[np.flatnonzero(freqs)] = _tree_depths([int(f) for f in freqs[freqs > 0]])
        if lengths.max() <= limit:
            return lengths
        freqs = np.where(freqs > 0, (freqs + 1) // 2, 0)


def _tree_depths(freqs: list[int]) -> list[int]:
    """Leaf depths of the Huffman tree built by always merging the two lightest nodes.

    Ties go to the node holding the smallest symbol (a merged node keeps its children's
    smallest), so the tree, and with it the code, is fully determined by ``freqs``.
    """
    heap = [(f, leaf, leaf) for leaf, f in enumerate(freqs)]  # (weight, smallest symbol, node)
    heapq.heapify(heap)
    parent = [0] * len(freqs)
    while len(heap) > 1:
        f1, k1, node1 = heapq.heappop(heap)
        f2, k2, node2 = heapq.heappop(heap)
        parent[node1] = parent[node2] = len(parent)
        heapq.heappush(heap, (f1 + f2, min(k1, k2), len(parent)))
        parent.append(-1)
    depth = [0] * len(parent)
    for node in range(len(parent) - 2, -1, -1):  # parents are created after their children
        depth[node] = depth[parent[node]] + 1
    return depth[: len(freqs)]


def _canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """RFC 1951 3.2.2 canonical codes, bit-reversed because deflate packs bits LSB first."""
    bl_count = np.bincount(lengths, minlength=16)
    bl_count[0] = 0
    next_code = [0] * 16
    code = 0
    for bits in range(1, 16):
        code = (code + bl_count[bits - 1]) << 1
        next_code[bits] = code
    codes = np.zeros(len(lengths), dtype=np.int64)
    for sym, n in enumerate(lengths):
        if n:
            c = next_code[n]
            next_code[n] += 1
            codes[sym] = int(format(c, f"0{n}b")[::-1], 2)
    return codes


def _tokens(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(symbol, match length) per token: literals have length 0, matches copy the previous byte.

    In a run of at least ``_MIN_RUN`` equal bytes the first byte is a literal and the rest are
    matches of 258 bytes, then one of the remainder if it is at least 3 (else 1-2 literals).
    """
    n = len(data)
    starts = np.flatnonzero(np.concatenate([[True], data[1:] != data[:-1]]))
    run_lengths = np.diff(np.append(starts, n))
    long_runs = run_lengths >= _MIN_RUN
    covered_len = run_lengths[long_runs] - 1  # bytes after the run's first (literal) byte
    full, tail = covered_len // _MAX_MATCH, covered_len % _MAX_MATCH
    per_run = full + (tail >= 3)
    run = np.repeat(np.arange(len(per_run)), per_run)
    chunk = np.arange(len(run)) - np.repeat(np.cumsum(per_run) - per_run, per_run)
    match_pos = starts[long_runs][run] + 1 + _MAX_MATCH * chunk
    match_len = np.where(chunk < full[run], _MAX_MATCH, tail[run])
    # Bytes produced by a match, not by a literal: +1 where a match starts, -1 where it ends.
    edges = np.zeros(n + 1, dtype=np.int64)
    np.add.at(edges, match_pos, 1)
    np.add.at(edges, match_pos + match_len, -1)
    covered = np.cumsum(edges[:n]) > 0
    literal_pos = np.flatnonzero(~covered)
    positions = np.concatenate([literal_pos, match_pos])
    lengths = np.concatenate([np.zeros(len(literal_pos), dtype=np.int64), match_len.astype(np.int64)])
    order = np.argsort(positions, kind="stable")
    lengths = lengths[order]
    symbols = np.where(lengths > 0, 257 + _LEN_SYMBOL[lengths], data[positions[order]].astype(np.int64))
    return symbols, lengths


def _pack_bits(values: np.ndarray, nbits: np.ndarray) -> bytes:
    """Concatenate ``nbits[i]`` (<= 32) low bits of each ``values[i]``, LSB first, into bytes.

    Each value is shifted to its bit offset inside a 32-bit word and may spill into the next
    word. Values' bits never overlap, so summing the contributions to a word equals OR-ing
    them; offsets only grow, so each word's contributions are one contiguous slice (reduceat).
    """
    values, nbits = values.astype(np.int64), nbits.astype(np.int64)
    if len(nbits) and nbits.max() > 32:
        raise ValueError(f"cannot pack values wider than 32 bits, got {int(nbits.max())}")
    values &= (np.int64(1) << nbits) - 1
    end = np.cumsum(nbits)
    start = end - nbits
    total = int(end[-1]) if len(end) else 0
    shifted = values << (start & 31)  # < 2**63: at most 32 + 31 bits
    word = start >> 5
    first = np.flatnonzero(np.diff(word, prepend=-1))  # where each word's slice begins
    words = np.zeros(total // 32 + 2, dtype=np.int64)
    words[word[first]] += np.add.reduceat(shifted & 0xFFFFFFFF, first)
    words[word[first] + 1] += np.add.reduceat(shifted >> 32, first)
    return words.astype("<u4").tobytes()[: (total + 7) // 8]


def _deflate(data: np.ndarray) -> bytes:
    symbols, match_lengths = _tokens(data)
    lit_freq = np.bincount(symbols, minlength=286)
    lit_freq[256] = 1  # end of block
    dist_freq = np.zeros(30, dtype=np.int64)
    # Two distance codes (only code 0 = distance 1 is used) keep the distance code complete,
    # which every inflater accepts; a lone code is a special case some handle differently.
    dist_freq[:2] = 1
    lit_len, dist_len = _code_lengths(lit_freq, 15), _code_lengths(dist_freq, 15)
    lit_code, dist_code = _canonical_codes(lit_len), _canonical_codes(dist_len)
    nlit = max(257, int(np.flatnonzero(lit_len).max()) + 1)
    ndist = 2
    all_lengths = np.concatenate([lit_len[:nlit], dist_len[:ndist]])
    cl_len = _code_lengths(np.bincount(all_lengths, minlength=19), 7)
    cl_code = _canonical_codes(cl_len)
    ncl = max(4, max(i for i, sym in enumerate(_CL_ORDER) if cl_len[sym]) + 1)

    header_vals = [1, 2, nlit - 257, ndist - 1, ncl - 4] + [int(cl_len[s]) for s in _CL_ORDER[:ncl]]
    header_bits = [1, 2, 5, 5, 4] + [3] * ncl
    header = (np.array(header_vals), np.array(header_bits))
    table = (cl_code[all_lengths], cl_len[all_lengths])

    # Per token: the symbol's code, then (matches only) length extra bits and the distance code,
    # joined into one value of at most 15 + 5 + 1 bits (both distance codes are 1 bit long).
    is_match = match_lengths > 0
    len_sym = np.where(is_match, symbols - 257, 0)
    extra_bits = np.where(is_match, np.array(_LEN_EXTRA)[len_sym], 0)
    extra_vals = np.where(is_match, match_lengths - np.array(_LEN_BASE)[len_sym], 0)
    code_bits = lit_len[symbols]
    body_vals = lit_code[symbols] | (extra_vals << code_bits)
    body_vals |= np.where(is_match, dist_code[0], 0) << (code_bits + extra_bits)
    body_bits = code_bits + extra_bits + np.where(is_match, dist_len[0], 0)
    end = (np.array([lit_code[256]]), np.array([lit_len[256]]))

    values = np.concatenate([header[0], table[0], body_vals, end[0]])
    nbits = np.concatenate([header[1], table[1], body_bits, end[1]])
    return _pack_bits(values, nbits)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an RGB ``uint8 [H, W, 3]`` array: 8-bit truecolour, no metadata chunks."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3 or 0 in pixels.shape:
        # PNG has no empty images: IHDR width and height must be at least 1.
        raise ValueError(f"expected uint8 [H, W, 3] pixels with H, W >= 1, got {pixels.dtype} {pixels.shape}")
    h, w, _ = pixels.shape
    filtered = _paeth_filter(pixels)
    # zlib stream: header 0x78 0x01 (deflate, 32 KiB window, valid check bits), data, Adler-32.
    stream = b"\x78\x01" + _deflate(filtered) + struct.pack(">I", zlib.adler32(filtered.tobytes()))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", stream) + _chunk(b"IEND", b"")
