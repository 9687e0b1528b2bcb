"""The model benchmark (``python benchmark.py``): per model config and setting (precision, memory format, eager or
compiled, batch, resolution) one record of parameters, FLOPs, latency, throughput, peak memory and environment."""
