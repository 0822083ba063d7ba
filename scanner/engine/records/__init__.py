"""Record types and collector declarations, one module per service: the plain data checks
judge and the names they read it by. No I/O: the fetch functions are in
scanner/engine/collectors/."""
