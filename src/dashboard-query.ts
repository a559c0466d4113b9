/**
 * The full dashboard: every section and nested field of one student. GraphiQL opens with
 * it; tests and the benchmark run it. `students(first:)` wraps the same selection.
 */
export const STUDENT_DASHBOARD_FIELDS = /* GraphQL */ `
  id zohoId moodleUserId studentNumber fullName firstName lastName email phone city country status syncedAt
  academics {
    unitsTotal unitsCompleted
    currentProgram { id name code level units { id code name credits } }
    registrations {
      id zohoId status registrationDate startDate endDate totalFees currency
      program { id name code level units { id code name credits } }
      payments { id zohoId amount currency status dueDate paidAt method reference }
    }
  }
  finance {
    currency totalFees totalPaid balance overdueAmount
    nextDue { id amount currency status dueDate }
    payments { id zohoId amount currency status dueDate paidAt method reference }
  }
  classes {
    id status startDate endDate
    class { id name code moodleCourseId schedule teacher { id fullName email } unit { id code name credits } }
  }
  requests { id type subject status submittedAt resolvedAt response }
  grades {
    id compositeKey assignmentName score btecGrade attemptNumber gradedAt feedback graderName internalVerifierName
    unit { id code name credits }
    class { id name code }
    learningOutcomes { code title score feedback achieved }
  }
`;

export const DASHBOARD_QUERY = /* GraphQL */ `# The whole dashboard of one student in one request.
query Dashboard($moodleUserId: String = "00042") {
  student(moodleUserId: $moodleUserId) {${STUDENT_DASHBOARD_FIELDS}  }
}
`;

export const STUDENTS_DASHBOARD_QUERY = /* GraphQL */ `
query StudentsDashboard($first: Int = 50, $after: String, $search: String) {
  students(first: $first, after: $after, search: $search) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node {${STUDENT_DASHBOARD_FIELDS}    } }
  }
}
`;
