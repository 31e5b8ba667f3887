package tasks

// TypeAssetsSweep will delete stored assets that no user owns any more. It is
// reserved here, with its queue QueueSweep, so that the name and the queue are
// settled before any producer or worker uses them; the payload, options and
// constructor come with the work that delivers sweeping.
const TypeAssetsSweep = "assets:sweep"
