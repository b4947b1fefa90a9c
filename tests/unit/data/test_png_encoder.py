"""The deterministic PNG writer: exact round trip through Pillow and zlib, bytes that never drift."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from decig.data.png import _code_lengths, _deflate, encode_png


def _decode(data: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.mode == "RGB" and img.info.get("interlace", 0) == 0
    return np.asarray(img)


def _random(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _structured() -> dict[str, np.ndarray]:
    y, x = np.mgrid[0:70, 0:301]
    checker = (((x // 3 + y // 3) % 2) * 255).astype(np.uint8)
    runs = np.zeros((5, 40, 3), dtype=np.uint8)
    for i, n in enumerate([1, 2, 3, 4, 5, 6, 258, 259, 260, 261]):
        runs.reshape(-1)[sum(range(i)) * 7 : sum(range(i)) * 7 + n] = i + 1  # runs around the thresholds
    return {
        "black": np.zeros((64, 64, 3), dtype=np.uint8),
        "white_wide": np.full((3, 700, 3), 255, dtype=np.uint8),  # runs far above 258 bytes
        "gradient": np.stack([x % 256, y * 3 % 256, (x + y) % 256], axis=-1).astype(np.uint8),
        "checker": np.repeat(checker[..., None], 3, axis=-1),
        "stripes": np.repeat(((np.arange(301) % 2) * 200).astype(np.uint8)[None, :, None], 70, axis=0).repeat(3, axis=2),
        "runs": runs,
        "flat_with_noise": np.where(_random(50, 51, 3) > 250, _random(50, 51, 4), 128).astype(np.uint8),
    }


@pytest.mark.parametrize(("h", "w"), [(1, 1), (1, 2), (2, 1), (1, 7), (3, 5), (17, 33), (64, 65), (31, 128)])
def test_random_images_round_trip(h: int, w: int):
    pixels = _random(h, w, seed=h * 1000 + w)
    assert np.array_equal(_decode(encode_png(pixels)), pixels)


@pytest.mark.parametrize("name", sorted(_structured()))
def test_structured_images_round_trip(name: str):
    pixels = _structured()[name]
    data = encode_png(pixels)
    assert np.array_equal(_decode(data), pixels)
    if name in ("black", "white_wide"):
        assert len(data) < pixels.nbytes // 20  # runs are actually compressed


def test_stream_is_a_valid_zlib_stream_with_strict_checks():
    pixels = _random(9, 11)
    data = encode_png(pixels)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, payload = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + payload)
        chunks.append((kind, payload))
        pos += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]  # no metadata (no time stamps)
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (11, 9, 8, 2, 0, 0, 0)
    raw = zlib.decompress(chunks[1][1])  # checks the Adler-32 too
    assert len(raw) == 9 * (1 + 11 * 3) and all(raw[r * 34] == 4 for r in range(9))  # Paeth on every row


def test_deterministic_and_independent_of_memory_layout():
    pixels = _random(40, 30)
    first = encode_png(pixels)
    assert encode_png(pixels.copy()) == first
    assert encode_png(np.asfortranarray(pixels)) == first
    wide = np.concatenate([pixels, pixels], axis=1)
    assert encode_png(wide[:, :30]) == first  # a non-contiguous view


def test_output_bytes_are_pinned():
    # The demo dataset's md5 in data.dvc depends on these exact bytes: any change to the encoder's
    # choices (filter, tokens, Huffman construction) must show up here first.
    pixels = _random(13, 21, seed=42)
    pixels[5:9] = 7
    digest = hashlib.sha256(encode_png(pixels)).hexdigest()
    assert digest == "70de4127928e2696ec6925757b0b93d0ac0ba77e18622a6a30acc8f7709ff8ca"


def test_length_limited_huffman_is_complete():
    fib = [1, 1]
    while len(fib) < 25:
        fib.append(fib[-1] + fib[-2])
    lengths = _code_lengths(np.array(fib + [0, 0]), 15)
    used = lengths[lengths > 0]
    assert used.max() <= 15 and len(used) == 25 and lengths[-1] == lengths[-2] == 0
    assert sum(2.0 ** -used.astype(float)) == 1.0  # Kraft equality: a complete prefix code
    assert _code_lengths(np.array([0, 5, 0]), 7).tolist().count(1) == 2  # one symbol still gets a complete code


def test_deflate_with_deep_huffman_tree_inflates():
    # Fibonacci-distributed bytes force the length limit; shuffled so there are few runs.
    fib = [1, 1]
    while len(fib) < 22:
        fib.append(fib[-1] + fib[-2])
    data = np.repeat(np.arange(22, dtype=np.uint8), fib)
    np.random.default_rng(0).shuffle(data)
    assert zlib.decompress(_deflate(data), wbits=-15) == data.tobytes()


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((4, 4, 3), dtype=np.uint16),
        np.zeros((4, 4), dtype=np.uint8),
        np.zeros((4, 4, 4), dtype=np.uint8),
        np.zeros((0, 4, 3), dtype=np.uint8),
        np.zeros((4, 0, 3), dtype=np.uint8),
    ],
)
def test_rejects_what_it_cannot_encode(pixels: np.ndarray):
    with pytest.raises(ValueError, match=r"expected uint8 \[H, W, 3\] pixels"):
        encode_png(pixels)


def test_code_lengths_refuses_an_impossible_limit():
    with pytest.raises(ValueError, match=r"200 symbols cannot have codes of at most 7 bits"):
        _code_lengths(np.ones(200, dtype=np.int64), 7)
