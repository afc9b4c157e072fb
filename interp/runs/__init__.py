"""What every study run shares: atomic files, the result cache, the run record, CLI flags,
plot style, and ``run_study``, the one run contract."""
