"""The input checks' error: one line naming the source, and it survives the trip between processes."""

from __future__ import annotations

import pickle

from soccerfactory.curation.video.checks import BadInputError


# --------------------------------------------------------------------------- errors


def test_bad_input_error_is_one_line_and_survives_pickling():
    error = BadInputError("s3://bucket/match.mp4", "truncated:\n  header says 10 frames, only 3 decode")
    assert str(error) == "s3://bucket/match.mp4: truncated: header says 10 frames, only 3 decode"
    assert isinstance(error, ValueError)
    again = pickle.loads(pickle.dumps(error))
    assert (again.url, again.reason, str(again)) == (error.url, error.reason, str(error))
