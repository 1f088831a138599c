export { Credentials, type CredentialsInit, type CredentialsKind } from './credentials.ts';
export {
  type DefaultKeychainOptions,
  DockerConfigKeychain,
  type DockerConfigKeychainOptions,
  defaultKeychain,
  defaultKeychainPaths,
  type FileKeychainOptions,
  type KeychainPaths,
  PodmanAuthKeychain,
  type PodmanAuthKeychainOptions,
  runCredentialHelper,
} from './docker-config.ts';
export {
  anonymousKeychain,
  chainKeychains,
  DOCKER_HUB_AUTH_KEY,
  type Keychain,
  normalizeRegistry,
  StaticKeychain,
  staticKeychain,
} from './keychain.ts';
