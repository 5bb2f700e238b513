export { fineTunePipeline } from './pipeline';
export { reapOrphanHosts } from './reaper';
