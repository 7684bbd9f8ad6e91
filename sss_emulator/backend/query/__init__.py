"""LinkAhead's query language as the stand-in understands it: parse, then evaluate."""
