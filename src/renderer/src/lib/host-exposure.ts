/** The warning the open forms show beside the Host field of a listener or UDP socket. */
import { hostExposure } from '../../../shared/host-exposure';
import type { MessageKey } from '../i18n/en';

/** Which warning binding `host` deserves; null for loopback (and an empty host). */
export function hostWarningKey(host: string): MessageKey | null {
  switch (hostExposure(host)) {
    case 'every-interface':
      return 'form.hostEveryInterface';
    case 'network-address':
      return 'form.hostNetworkAddress';
    case 'name':
      return 'form.hostName';
    default:
      return null;
  }
}
