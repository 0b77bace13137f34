"""Detectors of synthetic media (registered in :data:`mediatk.registry.DETECTORS`)."""
