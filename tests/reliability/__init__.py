"""The reliability suite: faults, crashes, full disks, bad input and secrets, against the real server and
exporter. Its figures are printed at the end of the run (`conftest.py`)."""
