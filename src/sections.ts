/** The sections of a student's dashboard an entity change touches (DashboardSection enum). */
export const DASHBOARD_SECTIONS = ['PROFILE', 'ACADEMICS', 'FINANCE', 'CLASSES', 'REQUESTS', 'GRADES'] as const;
export type DashboardSection = (typeof DASHBOARD_SECTIONS)[number];

const SECTIONS_BY_ENTITY: Record<string, DashboardSection[]> = {
  Student: ['PROFILE'],
  Registration: ['ACADEMICS', 'FINANCE'],
  Payment: ['FINANCE'],
  Enrollment: ['CLASSES'],
  StudentRequest: ['REQUESTS'],
  // unitsCompleted counts passed units
  Grade: ['GRADES', 'ACADEMICS'],
};

export function sectionsOf(entityType: string | null): DashboardSection[] {
  return (entityType && SECTIONS_BY_ENTITY[entityType]) || [];
}
