"""Fuzz harness: seeded, reproducible malformed inputs through the real entry points, in child processes.

Categories (one module of mutators each, :mod:`.categories` ties them up):

* ``dicom`` (:mod:`.dicom`, :mod:`.dicom_walk`): byte flips and cuts, element
  VR / VM / length / value edits, transfer-syntax mismatches, pydicom-level
  edits (LUTs, palettes, ultrasound regions) of the real test DICOM files;
* ``image`` (:mod:`.image`): PNG chunks (CRC fixed), IHDR fields, inserted
  text / ICC bombs, JPEG segments and SOF fields, bytes of 13 image seeds;
* ``video`` (:mod:`.video`): AVI chunks and MP4 boxes of the test cines;
* ``store`` (:mod:`.store`): bad values in rows, flipped bytes, damaged media
  of a real exam store written with ``ExamStore``;
* ``answer`` (:mod:`.answers`): hostile FADA model answers from the corpus.

Entry points (:mod:`.targets`): ``fada-desk info``, ``open_source`` reading
every frame, ``ExamStore`` open / lists / exams / export, the answer parser.
Each input runs in a worker of :class:`.pool.Pool`, so an abort, a segfault
or a hang is counted against that input. Outcomes: ``clean`` (a FadaError
with a one-line message), ``accepted``, ``crash`` (everything else, by kind).

    .venv/bin/python bench/fuzz.py --n 10000 --seed 1          # the campaign, table, minimal inputs
    pytest tests/devtools/test_fuzz.py                         # 300 per category, every CI run

Case ``i`` of a category is a pure function of (seed, category, i):
``bench/fuzz.py --categories dicom --seed 1 --replay 1234`` re-runs one.
"""
