"""Optical-flow data: .flo / KITTI I/O, the benchmarks (FlyingChairs, Sintel, KITTI, Middlebury), synthetic flow,
flow-aware transforms and the shipped split files."""
