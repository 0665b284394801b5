// @signalgate/client: CloudSignal's client SDK, reimplemented over mqtt.js for browsers and Node.
import { CloudSignal } from './cloudSignal.js';

export { CloudSignal };
export default CloudSignal;
export type { CloudSignalOptions, ConnectWithTokenOptions, TokenInfo } from './cloudSignal.js';
export { RealtimeClient, DEFAULT_AUTH_RETRY_DELAY_SECONDS, DEFAULT_SESSION_EXPIRY_SECONDS } from './realtimeClient.js';
export type { RealtimeClientOptions, ConnectionStatus, CredentialsProvider, PublishOptions, QoS, MessageHandler } from './realtimeClient.js';
export { DEFAULT_RESPONSE_TOPIC_PATTERN, DEFAULT_REQUEST_TIMEOUT_MS } from './requests.js';
export type { ReceivedMessage, RequestOptions, ReplyOptions, RequestReply, PublishProperties, UserProperties } from './requests.js';
export { randomClientId } from './ids.js';
export { RemoteCredentials } from './remoteCredentials.js';
export { CloudSignalError, TOKEN_ERRORS, tokenErrorTypeOf, type TokenErrorType } from './errors.js';
export type { ProviderInfo } from './tokenService.js';
export { PRESETS, resolvePresetName, type PresetName, type PresetOption, type ProtocolVersion, type ConnectionPreset } from './presets.js';
export { DEFAULT_PORTS, DEFAULT_API_PORT, DEFAULT_WS_PATH, endpointUrl, resolveBrokerAddress, defaultTokenServiceUrl, type Endpoint, type Scheme } from './endpoint.js';
export { backoffDelaySeconds, DEFAULT_RETRY_BACKOFF, type RetryBackoff } from './backoff.js';
export { refreshDelayMs } from './refreshSchedule.js';
export { decodePayload, encodePayload } from './payload.js';
