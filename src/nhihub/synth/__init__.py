"""Synthetic upload files (``nhihub synth``): realistic, valid format-2.0 / 1.0 records from a
seed, with known errors injected on request and listed in a sidecar file. See docs/synth.md."""

from nhihub.synth.generate import (
    VERSIONS,
    InjectedError,
    SynthError,
    SynthResult,
    generate,
    iter_records,
)
from nhihub.synth.mutations import MutationKind, mutation_kinds
from nhihub.synth.write import SynthSummary, read_sidecar, sidecar_path, write_synth

__all__ = [
    "VERSIONS",
    "InjectedError",
    "MutationKind",
    "SynthError",
    "SynthResult",
    "SynthSummary",
    "generate",
    "iter_records",
    "mutation_kinds",
    "read_sidecar",
    "sidecar_path",
    "write_synth",
]
