"""Generating arguments for a function from its source: what each parameter must be (infer), literal
values (literals, regexgen), argument lists and their type-aware mutation (generate, mutate), the
reference instrumented for branch coverage (coverage), the coverage-guided search for calls (search) and
running those calls in the sandbox (calls). `mine` uses it for its dynamic check, `synth` for tests.
"""
