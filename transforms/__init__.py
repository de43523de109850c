"""One module per pipeline stage; each exposes a composite beam.PTransform and pure helpers."""
