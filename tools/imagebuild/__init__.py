"""Component container images: build the wheelhouse and image, record and resolve the reference.

The pipeline compiles against :func:`decig.kubeflow.image.component_image`; ``decig-image build``
writes the reference it produced so compilation picks it up without copy-pasting digests.
Heavy clients (``docker``) are imported inside the functions that use them.
"""
