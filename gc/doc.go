// Package gc collects what no image, container, build or transfer needs any
// more: layers of the layer store, blobs of the content store, and the
// records other stores keep about images (the build cache). It owns the
// leases through which running operations keep what they use.
//
// # What is kept
//
// A collection (Collector.Collect) keeps, and removes everything else of
// the stores it is given:
//
//   - every image's config, manifest and layer blobs, and the layers of its
//     chain;
//   - the layer each container's snapshot is on (Config.Snapshots);
//   - what is leased (Collector.Lease), blobs and chains;
//   - the blobs and layers an interrupted pull verified within
//     PendingGrace (image.BlobIndex pending records), for the next pull;
//   - the gzip copies made for pushes of the zstd blobs of images that
//     have a repository digest (image.BlobIndex); once no such image
//     needs a copy, the next push makes it again.
//
// A layer is kept with all its parents. Layers are removed children first,
// in one pass: after a collection no unneeded layer is left, whatever the
// depth of the chains. Records (Config.Records) pointing at an image that
// is not in the image store any more are removed with it.
//
// Collection removes no image: images go by rmi (image.Store.Remove) and,
// for those of interrupted builds, by image.Store.RemoveUnfinished at start.
//
// # Leases and the lock
//
// A lease keeps blobs and layer chains (with their parents) from
// collection until it is released. Whatever of them exists when Lease
// returns stays until then: a collection either ended before the lease was
// taken or sees it. Leases live in memory; after a crash a pull's pending
// records take their place, and what nothing records is garbage.
//
// Writing a layer or blob that nothing references yet and recording what
// references it (an image, a lease) is done holding the collection lock for
// reading (RLock, RUnlock): a short, local step. A collection holds it for
// writing from its first look at the stores to its last removal, so it
// never sees half of such a step. Operations that wait on a network, a
// client or a build step hold leases, not the lock.
//
// # Atomicity
//
// Each removal is atomic in its store (a layer leaves by one rename, a blob
// by one unlink, record files by one unlink), not the collection as a
// whole: a collection cut short by a crash leaves a subset of the garbage,
// which the next one removes. Nothing a kept object needs is ever removed
// before it, since children go before parents.
package gc
