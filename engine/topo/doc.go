// Package topo builds the wire of one labrun run: named network namespaces
// joined by veth pairs, and tears them down again on every path.
//
// # What is created
//
// Without an emulator (Config.Emulator false), two namespaces and one veth
// pair:
//
//	lr-<pid>-<runid>-snd  lr-snd0 198.18.0.1/24  02:6c:72:ff:00:01
//	        |
//	lr-<pid>-<runid>-rcv  lr-rcv0 198.18.0.2/24  02:6c:72:ff:00:02
//
// With an emulator, three namespaces and two veth pairs; the emulator
// forwards frames itself, in user space (kernel forwarding stays off):
//
//	lr-<pid>-<runid>-snd  lr-snd0 198.18.0.1/24    02:6c:72:ff:00:01  route 198.19.0.0/24 via 198.18.0.254
//	        |
//	lr-<pid>-<runid>-emu  lr-emu0 198.18.0.254/24  02:6c:72:ff:00:11
//	                      lr-emu1 198.19.0.254/24  02:6c:72:ff:00:12
//	        |
//	lr-<pid>-<runid>-rcv  lr-rcv0 198.19.0.2/24    02:6c:72:ff:00:02  route 198.18.0.0/24 via 198.19.0.254
//
// With Config.Pairs = N (no emulator), N veth pairs join the sender and
// the receiver, pair k being port k of both hosts (Host.Port): port 0 is
// the pair above, port k >= 1 is
//
//	lr-<pid>-<runid>-snd  lr-snd<k> 198.18.<k>.1/24  02:6c:72:ff:<k>:01
//	        |
//	lr-<pid>-<runid>-rcv  lr-rcv<k> 198.18.<k>.2/24  02:6c:72:ff:<k>:02
//
// so each pair is its own subnet, as separate NIC ports on separate links
// would be.
//
// <pid> is the building process's pid and <runid> the run's short id, so
// namespace names never collide between runs or processes. The creating
// process is recorded as each namespace's owner (PID and start time) in
// the state folder, so CleanStale can tell a dead process's leftovers from
// a live run (see stale.go). The namespaces are
// named in the iproute2 way (a bind mount under /run/netns), so
// `ip netns list` shows them and `ip netns exec` enters them. The veths are
// created directly inside their namespaces (the netlink request carries
// the peer's namespace), so nothing ever appears in the root namespace and
// the interface names are the same in every run. Ifindex values are those
// inside the namespace.
//
// In every namespace lo is up, net.ipv4.ip_forward is 0 and IPv6 is
// disabled (default and per veth, before any link goes up), so no router
// solicitation, DAD or MLD frame ever appears on the wire: the only frames
// are the ones the experiment sends, plus ARP if it uses the IP stack. A
// kernel without IPv6 is fine. Unless Config.Offloads is set, every
// offload that lets a frame arrive other than as it was sent is turned off
// on every veth through SIOCETHTOOL: scatter-gather, tx/rx checksum, all
// segmentation offloads (TSO, GSO, UDP and tunnel segmentation, GSO
// lists), GRO, GRO lists, UDP GRO forwarding, LRO. VLAN tag offloads stay
// as they are. Build returns only once every veth is operationally up with
// its queueing discipline attached: until the kernel's link watcher has
// run, a device keeps the placeholder noop qdisc, which drops every frame
// sent to it.
//
// # Why the MACs differ from labrun's synthetic frames
//
// The interfaces' MACs (02:6c:72:ff:...) are deliberately not the ones of
// labrun's synthetic endpoints (02:6c:72:00:00:01 -> 02:6c:72:00:00:02).
// A synthetic frame arriving at the receiver is then addressed to some
// other host (PACKET_OTHERHOST): the receiver's IP stack drops it at once,
// without ARP, ICMP or any reply going back on the wire, while packet
// sockets still see every frame. Both kinds of MAC are locally
// administered (second bit of the first byte) and spell "lr".
//
// # Teardown
//
// Topology.Close unmounts and removes each namespace's name, closes the
// package's own handles, and then checks that the names are gone and that
// no process (and no thread of this process, such as a Do still running)
// is still inside. The kernel destroys a namespace, and the veths in it,
// when its last reference goes: a socket opened inside (by Do or Stats
// callers) is such a reference, so close sockets before Close. Close does
// not depend on the calling thread's namespace and is idempotent. Build
// runs Close itself on any error, so a failed Build leaves nothing behind,
// not even a name. Names left by a process that died without Close are
// found by their owner records and removed by CleanStale.
//
// # Threads and namespaces
//
// A namespace is created on a goroutine that locks its OS thread, unshares
// the network namespace and never unlocks, so the runtime ends that thread
// with the goroutine and no other goroutine ever runs in the wrong
// namespace. Host.Do moves a locked thread into a namespace and back. In a
// thread that has entered another namespace, /proc/sys/net and
// /proc/thread-self/net are that namespace's, but /proc/self/net and
// /proc/net follow the thread group leader and show the original one.
package topo
