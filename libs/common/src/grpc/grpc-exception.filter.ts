import { Catch, type RpcExceptionFilter } from '@nestjs/common';
import { type Observable, throwError } from 'rxjs';
import { toGrpcError } from './grpc-status';

/**
 * For gRPC handlers: keeps our {code, message} as the matching gRPC status (and the code in a
 * trailer), where Nest would answer UNKNOWN "Internal server error". Put on a gRPC controller with
 * @UseFilters: it then wins over the global NATS filter.
 */
@Catch()
export class GrpcExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<never> {
    return throwError(() => toGrpcError(exception));
  }
}
