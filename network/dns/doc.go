// Package dns is the embedded DNS server of user-defined networks, as
// dockerd's: one Resolver per container, serving on sockets opened inside
// the container's network namespace (reached at 127.0.0.11:53), answering
// the names of the container's peers (container names, network aliases,
// short IDs) from a registry read at each query, and forwarding every
// other question to upstream servers from inside that namespace.
//
// The wire format, the servers' read loops and the client exchanges are
// github.com/miekg/dns's. Gantry relies on these guarantees of it (v1.1):
//
//   - Server.ActivateAndServe serves the PacketConn or Listener it is
//     given and opens no socket of its own, so sockets made inside a
//     namespace stay there; ShutdownContext closes them, and once
//     ActivateAndServe has returned no handler is running.
//   - A message that does not parse never reaches the Handler, and is not
//     answered (MsgInvalidFunc): a stream of garbage gets no replies to
//     amplify.
//   - Every message is read through the Reader returned by
//     DecorateReader, one at a time per UDP socket and per TCP connection,
//     before a goroutine is started for it: the per-container rate limit
//     (limitReader) paces the reads there, and a flood stays in the
//     kernel's socket buffer.
//   - The Handler's reply is written as given: Msg.Truncate is called here
//     to fit the client's UDP size, and the ID of a forwarded answer is the
//     client's own (the query is sent upstream unchanged).
//   - Client.ExchangeWithConnContext writes on the connection it is given
//     (opened in the container's namespace by a Dialer) and returns the
//     first answer whose ID matches the query's, or the context's error.
package dns
