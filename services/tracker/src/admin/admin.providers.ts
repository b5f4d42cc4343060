import type { Provider } from '@nestjs/common';
import { AdminService } from './admin.service';

/** What the gRPC admin API needs besides the tracker's own services (NatsRpc among them). The tracker adds these only when GRPC_PORT is set. */
export function adminProviders(): Provider[] {
  return [AdminService];
}
