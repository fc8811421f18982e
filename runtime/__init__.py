"""The runtime: executes conversation plans as agent turns (it never sees syntax trees)."""
