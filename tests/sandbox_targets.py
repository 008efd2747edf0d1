"""Stand-ins for the renderer that the sandbox child runs in tests (module:function).

Kept free of heavy imports so a child reaches them quickly.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time

from reporting.errors import Diagnostic
from reporting.report.sandbox import AttachmentData, Rendered, RenderJob, process_status_kib


def sleep_forever(job: RenderJob, attachment_data: AttachmentData) -> Rendered:
    time.sleep(3600)
    raise AssertionError("the sandbox should have been killed long ago")


def allocate_past_the_limit(job: RenderJob, attachment_data: AttachmentData) -> Rendered:
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        raise AssertionError("no address-space limit in the child")
    hog = bytearray(soft)  # more than the whole address space allowed
    return Rendered(html=bytes(hog[:1]), pdf=None)


def abort(job: RenderJob, attachment_data: AttachmentData) -> Rendered:
    os.abort()


def crash(job: RenderJob, attachment_data: AttachmentData) -> Rendered:
    raise ZeroDivisionError("boom in the renderer")


def crash_near_the_limit(job: RenderJob, attachment_data: AttachmentData) -> Rendered:
    """Fail with the address space at 85% of the limit, leaving room to reply.

    The space is reserved (mmap, never touched), so how close to the limit the child is
    does not depend on which libraries happen to be loaded.
    """
    import mmap

    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    in_use = process_status_kib("VmSize")
    if in_use is None:
        raise AssertionError("no VmSize in /proc/self/status")
    ballast = mmap.mmap(-1, int(soft * 0.85) - in_use * 1024)
    raise ZeroDivisionError(f"boom in the renderer ({len(ballast)} bytes reserved)")


def refuse_a_resource(job: RenderJob, attachment_data: AttachmentData) -> Rendered:
    from reporting.report.html import RenderError

    raise RenderError(Diagnostic("RESOURCE_REFUSED", "the report tried to load 'file:///x'"))


def report_environment(job: RenderJob, attachment_data: AttachmentData) -> Rendered:
    """Echo what the child sees, and print to stdout, which must not reach the result."""
    print("noise on stdout from a library")
    sys.stdout.flush()
    os.write(1, b"more noise on fd 1\n")
    seen = {
        "environment": dict(os.environ),
        "rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0],
        "gc_threshold": gc.get_threshold(),
        "gc_frozen": gc.get_freeze_count(),
        "organisation": job.model.organisation,
        "attachments": [name for name, *_ in job.attachments],
        "attachment_data": [data.decode() for data in attachment_data()],
    }
    return Rendered(html=json.dumps(seen).encode(), pdf=b"%PDF-not-really\n\x00\xff")


def announce_then_wait(job: RenderJob, attachment_data: AttachmentData) -> Rendered:
    """Leave a mark before asking for the attachments, then echo them."""
    mark = os.environ["SANDBOX_TEST_MARK"]
    with open(mark, "w") as handle:
        handle.write("working before the attachments arrived")
    data = attachment_data()
    return Rendered(html=b"|".join(data), pdf=None)


def wait_for_attachments(job: RenderJob, attachment_data: AttachmentData) -> Rendered:
    return Rendered(html=b"|".join(attachment_data()), pdf=None)
