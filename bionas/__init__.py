"""bionas: neural architecture search for genomic sequence models.

Each candidate architecture is scored on how well it predicts and on how well
its first-layer convolution filters agree with known motifs (the knowledge
dissimilarity of BioNAS, arXiv 1909.00337).
"""

__version__ = "0.1.0"
