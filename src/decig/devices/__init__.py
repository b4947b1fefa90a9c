"""Target devices and their per-layer cost profiles, the l(i) factors of DECIG's Stage I penalty."""
