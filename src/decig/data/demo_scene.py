"""Procedural landscape scenes: a semantic label map and a "photo" rendered from the same layout.

Everything is drawn at twice the output resolution and the photo is box-filtered down, which
gives it anti-aliased (soft) edges while the label map keeps hard class boundaries. The photo
is not a colour lookup of the labels: colours follow gradients (sky, distance), geometry
(ridge slopes, snow line, building height, sphere-shaded tree crowns, lit building sides) and
value-noise textures (clouds, ripples, grass, foliage), so a model has to learn shading and texture.

Reproducibility across machines: random numbers come only from ``Generator.integers`` and
``Generator.random`` (bit-exact streams), and pixels are computed with integer arithmetic or
the IEEE-exact float operations + - * / sqrt, min/max and floor. No sin/cos/exp/log/pow (their
SIMD implementations differ between CPUs), no float reductions (summation order varies), and no
BLAS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = ("sky", "mountain", "grass", "water", "building", "window", "tree", "trunk")
SKY, MOUNTAIN, GRASS, WATER, BUILDING, WINDOW, TREE, TRUNK = range(len(CLASSES))
PALETTE: tuple[tuple[int, int, int], ...] = (
    (90, 170, 255),  # sky
    (130, 90, 50),  # mountain
    (0, 200, 0),  # grass
    (0, 60, 160),  # water
    (200, 60, 60),  # building
    (255, 230, 0),  # window
    (0, 100, 40),  # tree (crown)
    (140, 70, 200),  # trunk
)
_PALETTE_ARRAY = np.array(PALETTE, dtype=np.uint8)

# Photo colours (RGB, 0..255 as floats).
_SKY_TOP, _SKY_HORIZON = np.array([35.0, 85.0, 185.0]), np.array([180.0, 208.0, 236.0])
_MOUNTAIN, _SNOW = np.array([95.0, 100.0, 125.0]), np.array([236.0, 238.0, 246.0])
_GRASS_FAR, _GRASS_NEAR = np.array([150.0, 175.0, 90.0]), np.array([45.0, 115.0, 35.0])
_WATER_FAR, _WATER_NEAR = np.array([130.0, 165.0, 200.0]), np.array([20.0, 65.0, 120.0])
_BRICK, _CONCRETE = np.array([150.0, 80.0, 60.0]), np.array([178.0, 176.0, 170.0])
_GLASS, _GLASS_GLINT = np.array([40.0, 58.0, 88.0]), np.array([150.0, 175.0, 200.0])
_LEAF_DARK, _LEAF_LIT = np.array([22.0, 60.0, 22.0]), np.array([100.0, 170.0, 60.0])
_BARK = np.array([92.0, 62.0, 38.0])
# Light from the upper left, towards the viewer: a unit vector (x right, y down, z out of the image).
_LIGHT = np.array([-0.5, -0.6, 0.6245]) / np.sqrt(0.25 + 0.36 + 0.6245 * 0.6245)


@dataclass
class _Canvas:
    """Label and photo buffers at 2x resolution, painted back to front."""

    labels: np.ndarray  # int64 [N, N]
    rgb: np.ndarray  # float64 [N, N, 3]

    def window(self, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Row and column coordinates of the canvas rectangle [y0, y1) x [x0, x1), clipped; None if empty.

        Returned as a column ``[h, 1]`` and a row ``[1, w]``: expressions broadcast them to the
        rectangle. Every pixel formula is element-wise, so computing it on the rectangle that can
        be painted gives exactly the values a full-canvas computation would have there.
        """
        n = self.labels.shape[0]
        y0, y1, x0, x1 = max(0, y0), min(n, y1), max(0, x0), min(n, x1)
        if y0 >= y1 or x0 >= x1:
            return None
        return np.arange(y0, y1)[:, None], np.arange(x0, x1)[None, :]

    def paint(self, y: np.ndarray, x: np.ndarray, mask: np.ndarray, label: int, colour: np.ndarray) -> None:
        """Paint ``colour`` (broadcastable to ``[h, w, 3]``) where ``mask`` holds inside window (y, x)."""
        h, w = y.shape[0], x.shape[1]
        region = np.s_[int(y[0, 0]) : int(y[0, 0]) + h, int(x[0, 0]) : int(x[0, 0]) + w]
        mask = np.broadcast_to(mask, (h, w))
        self.labels[region][mask] = label
        self.rgb[region][mask] = np.broadcast_to(colour, (h, w, 3))[mask]


def _lerp(c0: np.ndarray, c1: np.ndarray, t: np.ndarray) -> np.ndarray:
    return c0 + (c1 - c0) * t[..., None]


@dataclass
class _ValueNoise:
    """Smooth noise in [0, 1]: random lattice values, bilinearly interpolated in integers.

    The lattice is drawn when the object is made (that fixes the RNG stream); values are computed
    only where asked, on a window. Interpolating rows first, then columns, is the same integer
    sum as the four-corner bilinear formula, so the result does not depend on the window.
    """

    grid: np.ndarray  # int64 [n // cell_y + 2, n // cell_x + 2]
    cell_y: int
    cell_x: int

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, cell_y: int, cell_x: int) -> _ValueNoise:
        return cls(rng.integers(0, 256, size=(n // cell_y + 2, n // cell_x + 2), dtype=np.int64), cell_y, cell_x)

    def at(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Noise at the window rows ``y`` ``[h, 1]`` and columns ``x`` ``[1, w]``, shape ``[h, w]``."""
        cy, cx = self.cell_y, self.cell_x
        gy, fy, gx, fx = y // cy, y % cy, x[0] // cx, x[0] % cx
        rows = self.grid[gy[0, 0] : gy[-1, 0] + 2]  # the lattice rows this window touches
        along_x = rows[:, gx] * (cx - fx) + rows[:, gx + 1] * fx
        gy = gy[:, 0] - gy[0, 0]
        total = along_x[gy] * (cy - fy) + along_x[gy + 1] * fy
        return total / float(cy * cx * 255)


def _ridge(rng: np.random.Generator, n: int, top: int, bottom: int) -> np.ndarray:
    """Mountain skyline y per column by midpoint displacement (integers), within [top, bottom]."""
    m = 1 << (n - 1).bit_length()
    ridge = np.zeros(m + 1, dtype=np.int64)
    ridge[[0, m]] = rng.integers(top, bottom + 1, size=2)
    step, amp = m, max(1, (bottom - top) // 2)
    while step > 1:
        half = step // 2
        mid = np.arange(half, m, step)
        ridge[mid] = (ridge[mid - half] + ridge[mid + half]) // 2 + rng.integers(-amp, amp + 1, size=len(mid))
        step, amp = half, max(1, amp * 11 // 20)
    return np.clip(ridge[:n], top, bottom)


def _background(rng: np.random.Generator, canvas: _Canvas, horizon: int) -> None:
    n = canvas.labels.shape[0]

    # Sky: vertical gradient to a pale horizon, with soft clouds thinning towards the horizon.
    clouds = _ValueNoise.draw(rng, n, 12, 40)
    win = canvas.window(0, horizon, 0, n)
    if win is not None:
        y, x = win
        t_sky = np.clip(y / float(horizon), 0.0, 1.0)
        cloud = np.clip((clouds.at(y, x) - 0.55) * 4.0, 0.0, 1.0) * (1.0 - t_sky) * 0.7
        sky = _lerp(_SKY_TOP, _SKY_HORIZON, t_sky)
        canvas.paint(y, x, y < horizon, SKY, sky + (255.0 - sky) * cloud[..., None])

    # Mountains: sunlit on slopes facing left, darker lower down, snow above a line set by the peak.
    if rng.random() < 0.7:
        top = max(n // 10, horizon - n * 45 // 100)
        ridge = _ridge(rng, n, top, horizon - 2)
        slope = np.zeros(n)
        slope[1:-1] = (ridge[2:] - ridge[:-2]).astype(np.float64)
        rock = _ValueNoise.draw(rng, n, 6, 6)
        win = canvas.window(int(ridge.min()), horizon, 0, n)
        assert win is not None  # top <= ridge <= horizon - 2
        y, x = win
        below_ridge = np.clip((y - ridge[x]) / float(horizon - top), 0.0, 1.0)
        shade = np.clip(1.0 - 0.08 * slope, 0.7, 1.3)[x] * (1.0 - 0.3 * below_ridge)
        texture = 0.88 + 0.24 * rock.at(y, x)
        snow_line = int(ridge.min()) + (horizon - int(ridge.min())) * 3 // 10
        base = np.where((y < snow_line)[..., None], _SNOW, _MOUNTAIN)
        colour = base * (shade * texture)[..., None]
        canvas.paint(y, x, (y >= ridge[x]) & (y < horizon), MOUNTAIN, colour)

    # Grass: hazy and light far away, saturated near the viewer, with vertical blade-like streaks.
    blades = _ValueNoise.draw(rng, n, 8, 2)
    ground = canvas.window(horizon, n, 0, n)
    if ground is not None:
        y, x = ground
        t_ground = np.clip((y - horizon) / float(n - horizon), 0.0, 1.0)
        grass = _lerp(_GRASS_FAR, _GRASS_NEAR, t_ground) * (0.85 + 0.3 * blades.at(y, x))[..., None]
        canvas.paint(y, x, y >= horizon, GRASS, grass)

    # Water: a sea band along the horizon or a lake, with horizontal ripples.
    ripple_noise = _ValueNoise.draw(rng, n, 2, 24)
    kind = rng.random()
    if kind < 0.35:
        depth = int(rng.integers(n // 10, n // 4))
        mask = lambda y, x: (y >= horizon) & (y < horizon + depth)  # noqa: E731
    elif kind < 0.8:
        a, b = int(rng.integers(n // 6, n // 2)), int(rng.integers(n // 20, n // 8))
        cx, cy = int(rng.integers(0, n)), int(rng.integers(horizon + b // 2, n))
        mask = lambda y, x: (  # noqa: E731
            ((x - cx) ** 2 * b * b + (y - cy) ** 2 * a * a <= a * a * b * b) & (y > horizon)
        )
    else:
        return
    if ground is not None:
        y, x = ground
        t_ground = np.clip((y - horizon) / float(n - horizon), 0.0, 1.0)
        ripples = (ripple_noise.at(y, x) - 0.5) * 50.0
        canvas.paint(y, x, mask(y, x), WATER, _lerp(_WATER_FAR, _WATER_NEAR, t_ground) + ripples[..., None])


def _building(rng: np.random.Generator, canvas: _Canvas, base: int) -> None:
    n = canvas.labels.shape[0]
    width, height = int(rng.integers(n // 10, n // 4)), int(rng.integers(n // 6, n // 2))
    x0, top = int(rng.integers(-width // 2, n - width // 2)), max(2, base - height)
    win_w, win_h = int(rng.integers(n // 64, n // 32 + 1)) * 2, int(rng.integers(n // 64, n // 32 + 1)) * 2
    gap_x, gap_y = int(rng.integers(2, n // 32 + 2)), int(rng.integers(3, n // 32 + 3))
    win = canvas.window(top, base, x0, x0 + width)  # the body; windows lie inside it
    if win is None:
        return
    y, x = win
    # Taller buildings are concrete, short ones brick; the left side faces the light; dark roof edge.
    wall = _lerp(_CONCRETE, _BRICK, np.full((y.shape[0], x.shape[1]), 1.0 - min(1.0, height / (n / 2.0))))
    side = 1.12 - 0.3 * np.clip((x - x0) / float(width), 0.0, 1.0)
    roof = np.where(y < top + n // 64 + 1, 0.55, 1.0)
    canvas.paint(y, x, np.True_, BUILDING, wall * (side * roof)[..., None])

    margin = n // 64 + 2
    inner = (x >= x0 + margin) & (x < x0 + width - margin) & (y >= top + margin + 2) & (y < base - margin)
    grid = ((x - x0 - margin) % (win_w + gap_x) < win_w) & ((y - top - margin - 2) % (win_h + gap_y) < win_h)
    glint = (((x + y) % 20) < 5)[..., None]
    canvas.paint(y, x, inner & grid, WINDOW, np.where(glint, _GLASS_GLINT, _GLASS))


def _tree(rng: np.random.Generator, canvas: _Canvas, base: int, horizon: int) -> None:
    n = canvas.labels.shape[0]
    radius = n // 40 + (base - horizon) * (n // 10) // (n - horizon)  # nearer trees look bigger
    cx = int(rng.integers(0, n))
    trunk_w, trunk_h = max(2, radius // 3), radius
    win = canvas.window(base - trunk_h, base, cx - trunk_w // 2, cx + trunk_w // 2 + 1)
    if win is not None:
        y, x = win
        bark_shade = 1.15 - 0.4 * np.clip((x - cx + trunk_w / 2.0) / float(trunk_w + 1), 0.0, 1.0)
        canvas.paint(y, x, np.True_, TRUNK, _BARK * bark_shade[..., None])

    blotches = _ValueNoise.draw(rng, n, 3, 3)
    crowns = [(cx, base - trunk_h - radius * 2 // 3, radius)]
    if rng.random() < 0.5:
        side = 1 if rng.random() < 0.5 else -1
        crowns.append((cx + side * radius // 2, crowns[0][1] + radius // 4, radius * 2 // 3 + 1))
    for ccx, ccy, r in crowns:
        win = canvas.window(ccy - r, ccy + r + 1, ccx - r, ccx + r + 1)  # the disc's bounding square
        if win is None:
            continue
        y, x = win
        dx, dy = (x - ccx) / float(r), (y - ccy) / float(r)
        d2 = dx * dx + dy * dy
        nz = np.sqrt(np.clip(1.0 - d2, 0.0, 1.0))  # sphere normal: (dx, dy, nz)
        lambert = np.clip(dx * _LIGHT[0] + dy * _LIGHT[1] + nz * _LIGHT[2], 0.0, 1.0)
        colour = _lerp(_LEAF_DARK, _LEAF_LIT, lambert) * (0.8 + 0.4 * blotches.at(y, x))[..., None]
        canvas.paint(y, x, d2 <= 1.0, TREE, colour)


def render_scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(label map, photo), both ``uint8 [size, size, 3]``; ``size`` >= 32."""
    n = 2 * size
    canvas = _Canvas(np.zeros((n, n), dtype=np.int64), np.zeros((n, n, 3)))
    horizon = int(rng.integers(n * 40 // 100, n * 60 // 100))
    _background(rng, canvas, horizon)

    # Objects stand on the ground; painting far (higher base) to near handles occlusion.
    objects = [("building", int(rng.integers(horizon + 1, horizon + n // 8))) for _ in range(int(rng.integers(0, 4)))]
    objects += [("tree", int(rng.integers(horizon + n // 32, n - 2))) for _ in range(int(rng.integers(1, 7)))]
    for kind, base in sorted(objects, key=lambda obj: obj[1]):
        if kind == "building":
            _building(rng, canvas, base)
        else:
            _tree(rng, canvas, base, horizon)

    # 2x2 box filter with integer rounding: soft photo edges; the label map keeps one sample per pixel.
    fine = np.clip(np.floor(canvas.rgb + 0.5), 0, 255).astype(np.int64)
    photo = (fine[0::2, 0::2] + fine[1::2, 0::2] + fine[0::2, 1::2] + fine[1::2, 1::2] + 2) // 4
    grain = rng.integers(-2, 3, size=(size, size, 1))  # sensor-like grain, same on all channels
    photo = np.clip(photo + grain, 0, 255).astype(np.uint8)
    return _PALETTE_ARRAY[canvas.labels[0::2, 0::2]], photo
