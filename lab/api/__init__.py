"""The lab's Kubernetes API subset, served by aiohttp.

- ``resources``: the table of kinds served (drives routing, discovery, OpenAPI)
- ``schema``: real schemas from the ``kubernetes`` client's models; request decoding
- ``validation``: what the lab accepts, with the real API server's field paths
- ``patch``: JSON merge, JSON patch and strategic merge patch
- ``selectors``: labelSelector / fieldSelector
- ``cluster``: the control plane's duties (admission, clusterIPs, the scale subresource,
  namespace deletion), with ``defaults`` (what the API server fills in),
  ``workload_validation`` (the workload kinds), ``kubelets`` (Node objects, binding, pods
  on their nodes), ``gc`` (cascading deletion), ``network_sync`` (every node's CNI) and
  ``settled`` (what ``lab up`` waits for)
- ``handlers``/``app``/``server``: HTTP; ``discovery``/``openapi``/``tables``: what
  kubectl reads; ``protobuf``: the few protobuf bodies kubectl sends; ``tls``: certificates
"""
