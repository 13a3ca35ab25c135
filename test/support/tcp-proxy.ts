// A loopback TCP proxy whose connections a test can cut (both ends see the socket drop, as on a
// network change) while it keeps accepting new ones.
import { createServer, connect, type Server, type Socket } from "node:net";

export class TcpProxy {
  private readonly sockets: Set<Socket>;
  private readonly server: Server;
  readonly port: number;

  private constructor(server: Server, port: number, sockets: Set<Socket>) {
    this.server = server;
    this.port = port;
    this.sockets = sockets;
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = connect(targetPort, "127.0.0.1");
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("error", () => undefined);
        s.on("close", () => {
          sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return new TcpProxy(server, (server.address() as { port: number }).port, sockets);
  }

  /** Cuts every connection through the proxy (RST-like: no close handshake on either side). */
  dropAll(): number {
    const n = this.sockets.size;
    for (const s of this.sockets) s.resetAndDestroy();
    return n;
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise((r) => this.server.close(r));
  }
}
