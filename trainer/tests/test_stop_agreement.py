"""Multi-rank stop: a preemption notice that reaches one rank stops every rank at the same step."""

import datetime
import multiprocessing as mp
import socket


def _rank(rank: int, world: int, port: int, notified: int, q) -> None:
    import torch.distributed as dist
    from durable_finetune.training import StopFlag

    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=30),
    )
    flag = StopFlag()
    seen = []
    for step in range(1, 6):
        if rank == notified and step == 3:
            flag.requested = True  # what the SIGTERM handler does, on this rank only
        seen.append((step, flag.agreed()))
    dist.destroy_process_group()
    q.put((rank, seen))


def test_every_rank_agrees_to_stop_at_the_step_one_rank_was_told():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_rank, args=(r, 2, port, 1, q)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(q.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    expected = [(1, False), (2, False), (3, True), (4, True), (5, True)]
    assert results == {0: expected, 1: expected}


def test_a_single_process_reads_its_own_flag():
    from durable_finetune.training import StopFlag

    flag = StopFlag()
    assert flag.agreed() is False
    flag.requested = True
    assert flag.agreed() is True
