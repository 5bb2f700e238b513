import type { ActivityDeps } from './deps';
import { hostActivities } from './hosts';
import { jobActivities } from './jobs';
import { notifyActivities } from './notify';
import { prepareActivities } from './prepare';
import { promoteActivities } from './promote';
import { reaperActivities } from './reaper';
import { resolveActivities } from './resolve';
import { scoreActivities } from './score';
import type { Activities } from './types';

export function createActivities(deps: ActivityDeps): Activities {
  return {
    ...resolveActivities(),
    ...prepareActivities(deps),
    ...hostActivities(deps),
    ...jobActivities(deps),
    ...scoreActivities(),
    ...promoteActivities(deps),
    ...reaperActivities(),
    ...notifyActivities(deps),
  };
}
