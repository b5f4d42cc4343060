import { DISCOVERY_FEATURE, type DiscoveryHooks, HAVE_UPDATES_FEATURE, type PeerConnection } from '@swarmshare/common';
import { ConnectionExtensions } from './connection-extensions';

const hooks: DiscoveryHooks = { neighbours: () => [], onQuery: () => undefined, onQueryHit: async () => undefined };

describe('ConnectionExtensions', () => {
  it('announces the base features, and discovery’s first once it registered, with its hooks', () => {
    const ext = new ConnectionExtensions([HAVE_UPDATES_FEATURE]);
    expect(ext.features).toEqual([HAVE_UPDATES_FEATURE]);
    expect(ext.discovery).toBeUndefined();
    ext.serveDiscovery([DISCOVERY_FEATURE], hooks);
    expect(ext.features).toEqual([DISCOVERY_FEATURE, HAVE_UPDATES_FEATURE]);
    expect(ext.discovery).toBe(hooks);
  });

  it('takes one discovery registration only', () => {
    const ext = new ConnectionExtensions();
    ext.serveDiscovery([DISCOVERY_FEATURE], hooks);
    expect(() => ext.serveDiscovery([DISCOVERY_FEATURE], hooks)).toThrow('discovery hooks are registered already');
  });

  it('tells every listener of each accepted connection', () => {
    const ext = new ConnectionExtensions();
    const heard: string[] = [];
    ext.onAccepted((c) => heard.push(`a:${c.label}`));
    ext.onAccepted((c) => heard.push(`b:${c.label}`));
    ext.accepted({ label: 'x' } as PeerConnection);
    expect(heard).toEqual(['a:x', 'b:x']);
  });
});
