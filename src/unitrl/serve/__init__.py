"""`unitrl serve`: the sandbox as the reward service of RL engines (verl, OpenRLHF, TRL) over HTTP.

One warm sandbox pool sits behind a FastAPI app (`app`). A single thread owns the pool and grades
batches gathered from a bounded queue (`service`); handlers only parse, admit and wait. The protocols
are plain modules beside it: the native batch endpoint (`native`), OpenRLHF's remote reward protocol
and its in-process `reward_func` file (`openrlhf`, `reward_func`), and the SandboxFusion subset verl
calls (`sandbox_fusion`). `client` is a small HTTP client for the native endpoint.
"""
