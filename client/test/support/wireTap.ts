// A TCP relay between an SDK client and the broker that decodes what crosses it with
// mqtt-packet, so suites can assert on the bytes the SDK really sends (protocol level, CONNECT
// flags and properties) rather than on the options it was given.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';

export interface TappedConnection {
  /** Client → broker, in order; the first is the CONNECT. */
  fromClient: Packet[];
  /** Broker → client, in order; the first is the CONNACK. */
  fromBroker: Packet[];
}

export class WireTap {
  readonly connections: TappedConnection[] = [];
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | null = null;

  private constructor(private readonly brokerPort: number) {}

  /** Listens on an ephemeral port of 127.0.0.1 and relays to the broker's MQTT port. */
  static async start(brokerPort: number): Promise<WireTap> {
    const tap = new WireTap(brokerPort);
    tap.#server = net.createServer((socket) => tap.#relay(socket));
    await new Promise<void>((resolve) => tap.#server!.listen(0, '127.0.0.1', () => resolve()));
    return tap;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
  }

  /** CONNECT packets in the order the connections were opened. */
  get connects(): IConnectPacket[] {
    return this.connections.map((c) => c.fromClient[0]).filter((p): p is IConnectPacket => p?.cmd === 'connect');
  }

  /** Cuts every relayed connection the way a network drop does: no DISCONNECT either way. */
  sever(): void {
    for (const s of this.#sockets) s.destroy();
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  #relay(client: net.Socket): void {
    const record: TappedConnection = { fromClient: [], fromBroker: [] };
    this.connections.push(record);
    const broker = net.connect(this.brokerPort, '127.0.0.1');
    this.#sockets.add(client).add(broker);

    // The client's CONNECT tells the parser its protocol level; the broker's side parses at that level.
    const clientParser = mqttPacket.parser();
    clientParser.on('packet', (p: Packet) => record.fromClient.push(p));
    let brokerParser: ReturnType<typeof mqttPacket.parser> | null = null;
    client.on('data', (chunk) => {
      clientParser.parse(chunk);
      broker.write(chunk);
    });
    broker.on('data', (chunk) => {
      if (!brokerParser) {
        const version = (record.fromClient[0] as IConnectPacket | undefined)?.protocolVersion ?? 4;
        brokerParser = mqttPacket.parser({ protocolVersion: version });
        brokerParser.on('packet', (p: Packet) => record.fromBroker.push(p));
      }
      brokerParser.parse(chunk);
      client.write(chunk);
    });
    const close = () => {
      client.destroy();
      broker.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(broker);
    };
    client.on('close', close).on('error', close);
    broker.on('close', close).on('error', close);
  }
}
