package model

import G "gorgonia.org/gorgonia"

// CUDA reports whether this binary was built with Gorgonia's CUDA support (-tags cuda).
// Graphs then place CUDA-capable ops on the GPU by themselves.
const CUDA = G.CUDA
