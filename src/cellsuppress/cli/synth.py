"""``cellsuppress synth``: write a reproducible synthetic count table (and its hierarchies)."""
from __future__ import annotations

from .exit import OK, UsageError
from .inputs import split_list


def parse_levels(spec: str, dims: int | None) -> tuple[int, tuple]:
    """``'5x4,10'`` -> ``((5, 4), (10,))``; one spec applies to all ``dims``."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise UsageError(f"--levels is empty: {spec!r}")
    per_dim = []
    for p in parts:
        try:
            t = tuple(int(x) for x in p.lower().split("x"))
        except ValueError:
            raise UsageError(f"--levels: {p!r} is not like 10 or 5x4") from None
        per_dim.append(t)
    if dims is None:
        dims = len(per_dim)
    if len(per_dim) == 1:
        per_dim = per_dim * dims
    if len(per_dim) != dims:
        raise UsageError(f"--levels gives {len(per_dim)} dimension(s) but --dims is {dims}")
    return dims, tuple(per_dim)


def cmd_synth(args) -> int:
    from ..tables.synthetic import generate

    dims, levels = parse_levels(args.levels, args.dims)
    names = split_list(args.names) or None
    st = generate(dims=dims, levels=levels, seed=args.seed, mean=args.mean, small_share=args.small_share,
                  zero_share=args.zero_share, skewed=args.skewed, threshold=args.threshold, names=names)
    paths = st.write(args.output, args.name)
    print(st.description)
    for p in paths:
        print(f"wrote {p}")
    return OK
