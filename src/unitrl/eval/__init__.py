"""Evaluation: benchmark importers, the pass@k estimator, known-wrong HumanEval programs and `unitrl eval`."""
