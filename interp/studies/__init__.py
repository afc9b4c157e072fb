"""One package per study; each exposes STUDY (interp.runs.study)."""
