"""Model manager: which FADA model sets exist, are they intact, install, download.

* :mod:`.manifests`  ModelFile / ModelManifest, the shipped manifests, the user's models folder
* :mod:`.status`     per-file checks (:class:`~.status.FileState`), folder scan, ``verify_set``
* :mod:`.install`    verified copy from a local folder; removing a set
* :mod:`.download`   resumable, verified download from the Hugging Face Hub
* :mod:`.resolve`    a folder or set name -> verified set -> backend (``create_backend``)

Every failure is a :class:`~fada_desk.core.errors.ModelError` with a one-line message.
"""
