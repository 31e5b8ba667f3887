package tasks

// TypeUserErase will erase everything we and the upstream systems hold about
// one user. It is reserved here, with its queue QueueErase, so that the name
// and the queue are settled before any producer or worker uses them; the
// payload, options and constructor come with the work that delivers erasure.
const TypeUserErase = "user:erase"
