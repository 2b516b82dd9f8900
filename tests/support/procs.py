"""Process control for tests; the implementation lives in tools/procs.py (shared with
``make run-cluster`` and the benchmarks)."""

from tools.procs import ManagedProcess, wait_for_grpc_serving, wait_for_http, wait_for_port

__all__ = ["ManagedProcess", "wait_for_grpc_serving", "wait_for_http", "wait_for_port"]
